"""Call pairs settled by hashes are judged from the index alone, and exactly as the general way judges them."""
import numpy as np
import pytest

import bmtrace
from bmtrace.diff import settled

_FRAMES = [np.random.default_rng(i).integers(0, 256, (16, 20, 3), dtype=np.uint8) for i in range(3)]


def _record(path, mode="full", resize_offset=0, bgr=False, fail_on=None, stage_names=None):
    names = dict(decode="decode", resize="resize", normalize="normalize", head="head")
    names.update(stage_names or {})

    @bmtrace.trace_stage(names["decode"])
    def decode(i):
        frame = _FRAMES[i % 3].copy()
        return frame[..., ::-1].copy() if bgr else frame

    @bmtrace.trace_stage("frame_id")
    def frame_id(i):  # the same in every run, called after decode (under a carried representation in bgr)
        return np.int64(1000 + i)

    @bmtrace.trace_stage(names["resize"])
    def resize(img):
        out = img[::2, ::2].astype(np.int16) + resize_offset
        return out.clip(0, 255).astype(np.uint8)

    @bmtrace.trace_stage(names["normalize"])
    def normalize(img, scale=255.0):  # an input (img) that is an earlier output, and a float value
        return (img.astype(np.float32) / np.float32(scale)).transpose(2, 0, 1).copy()

    @bmtrace.trace_stage(names["head"])
    def head(x, i):
        if i == fail_on:
            raise ValueError("sample %d" % i)
        return x.mean(axis=(1, 2)), x[:, 0, 0].copy()  # two outputs, out[0] and out[1]

    with bmtrace.run(path, mode=mode, side=path.name):
        for i in range(6):
            with bmtrace.sample("img%d.jpg" % i):
                img = decode(i)
                frame_id(i)
                x = normalize(resize(img))
                for _ in range(2):  # a stage called twice per sample: occurrences 0 and 1
                    try:
                        head(x, i)
                    except ValueError:
                        pass
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("settled")
    return {
        "ref": _record(root / "ref"),
        "same": _record(root / "same"),
        "stats_ref": _record(root / "stats_ref", mode="stats"),
        "stats_same": _record(root / "stats_same", mode="stats"),
        "resize": _record(root / "resize", resize_offset=1),
        "bgr": _record(root / "bgr", bgr=True),
        "fails": _record(root / "fails", fail_on=2),
        "fails_ref": _record(root / "fails_ref", fail_on=2),
        "renamed": _record(root / "renamed", stage_names={"resize": "cv2_resize"}),
    }


CASES = [
    ("ref", "same", {}),
    ("stats_ref", "stats_same", {}),
    ("ref", "stats_same", {}),                         # full against stats: a note on every entry
    ("ref", "resize", {}),                             # normalize's input differs, decode's is settled
    ("ref", "resize", {"tol": {"resize": 1}}),         # a stage rule: outputs judged under it
    ("ref", "same", {"tol": {"normalize.img": 0.5}}),  # an explicit rule for a reused input
    ("ref", "bgr", {}),                                # a representation carried down the sample
    ("fails_ref", "fails", {}),                        # a stage with errors
    ("ref", "fails", {}),
    ("ref", "renamed", {"stage_map": {"resize": "cv2_resize"}}),
    ("ref", "same", {"samples": "img[13]*", "stages": "resize,normalize"}),
    ("ref", "resize", {"fail_fast": True}),
]


def _document(result):
    doc = result.to_json()
    doc.pop("elapsed_s", None)
    return doc


def _diff_without_settling(monkeypatch, a, b, options):
    with monkeypatch.context() as patch:
        patch.setattr(settled.SettledPairs, "layout", lambda self, pair: None)
        patch.setattr(settled.SettledPairs, "entry", lambda self, pair, cache: None)
        return bmtrace.diff(a, b, explain=False, **options)


@pytest.mark.parametrize("a, b, options", CASES)
def test_same_document_as_the_general_way(recorded, monkeypatch, a, b, options):
    taken = []
    entry = settled.SettledPairs.entry

    def counting(self, pair, cache):
        found = entry(self, pair, cache)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(settled.SettledPairs, "entry", counting)
    fast = bmtrace.diff(recorded[a], recorded[b], explain=False, **options)
    general = _diff_without_settling(monkeypatch, recorded[a], recorded[b], options)
    assert _document(fast) == _document(general)
    # every case has pairs settled by hashes, but the one carrying a representation from its first stage
    assert any(taken) == (b != "bgr")


def test_what_is_settled(recorded, monkeypatch):
    """Identical calls are settled; a call with an error, a differing tensor or a carried representation
    is not."""
    outcomes = {}
    entry = settled.SettledPairs.entry

    def recording(self, pair, cache):
        found = entry(self, pair, cache)
        outcomes.setdefault((pair.stage, pair.sample), []).append(found is not None)
        return found

    monkeypatch.setattr(settled.SettledPairs, "entry", recording)
    bmtrace.diff(recorded["ref"], recorded["same"], explain=False)
    assert all(all(v) for v in outcomes.values())
    outcomes.clear()
    bmtrace.diff(recorded["ref"], recorded["resize"], explain=False)
    assert outcomes[("decode", "img0.jpg")] == [True] and outcomes[("resize", "img0.jpg")] == [False]
    assert outcomes[("normalize", "img0.jpg")] == [False]
    outcomes.clear()
    bmtrace.diff(recorded["fails_ref"], recorded["fails"], explain=False)
    assert outcomes[("head", "img0.jpg")] == [False, False]  # the stage has errors: read from the lines
    outcomes.clear()
    bmtrace.diff(recorded["ref"], recorded["bgr"], explain=False)
    assert outcomes[("decode", "img0.jpg")] == [False]  # channels reversed
    assert outcomes[("frame_id", "img0.jpg")] == [False]  # equal hashes, but under a carried mapping


def test_runs_opened_without_an_index_take_the_general_way(recorded, monkeypatch):
    runs = [bmtrace.open_run(recorded["ref"]), bmtrace.open_run(recorded["same"])]
    taken = []
    entry = settled.SettledPairs.entry
    monkeypatch.setattr(settled.SettledPairs, "entry",
                        lambda self, pair, cache: taken.append(entry(self, pair, cache)) or taken[-1])
    result = bmtrace.diff(*runs, explain=False)
    assert result and taken and not any(taken)


@pytest.mark.parametrize("parts", [
    [np.array([0, 1, 0, 1]), np.array([5, 5, 6, 6])],
    [np.array([1 << 40, 3, 1 << 40, 3]), np.array([-(1 << 40), 7, -(1 << 40), 8]), np.array([2, 2, 2, 9])],
])
def test_combined_codes_are_equal_exactly_for_equal_rows(parts):
    codes = settled._combined(parts, 4)
    rows = list(zip(*[p.tolist() for p in parts]))
    for i in range(4):
        for j in range(4):
            assert (codes[i] == codes[j]) == (rows[i] == rows[j])


def _pairs(a, b):
    from bmtrace.diff.align import align
    from bmtrace.diff.engine import _open

    return align(_open(a), _open(b)).pairs


def test_prefetch_with_a_run_without_payloads_plans_nothing(recorded):
    """A stats-mode run holds no payload: the prefetcher returns at once and looks at no later pair, while
    two full runs have the differing pair's arrays loaded."""
    from bmtrace.diff.prefetch import Prefetcher

    asked = []
    for a, b in (("stats_ref", "resize"), ("ref", "stats_same")):
        pairs = _pairs(recorded[a], recorded[b])
        prefetch = Prefetcher(pairs, asked.append)
        assert [prefetch.take(i) for i in range(len(pairs))] == [{}] * len(pairs)
        prefetch.close()
    assert asked == []
    pairs = _pairs(recorded["ref"], recorded["resize"])
    index = next(i for i, p in enumerate(pairs) if p.stage == "resize")
    prefetch = Prefetcher(pairs, asked.append)
    arrays = prefetch.take(index)
    prefetch.close()
    outputs = [pairs[index].call_a.outputs[0], pairs[index].call_b.outputs[0]]
    assert sorted(arrays) == sorted(map(id, outputs)) and asked


@pytest.mark.parametrize("earlier, expected", [("equal", "aligned"), ("close", "aligned"), ("diverged", "diverged")])
def test_a_settled_entry_takes_the_status_of_a_reused_verdict(recorded, earlier, expected):
    """An input settled by hashes reuses the verdict already reached on its contents in the sample: the
    entry's status is that verdict's, not the fresh EQUAL's, and the reused tensor says where it is from."""
    from bmtrace.compare import TensorComparison, ToleranceRules
    from bmtrace.diff.pairs import ContentCache

    pairs = _pairs(recorded["ref"], recorded["same"])
    pair = next(p for p in pairs if p.stage == "normalize")
    found = settled.SettledPairs(ToleranceRules())
    assert found.layout(pair) is not None
    img = pair.call_a.input("img")
    cache = ContentCache().for_sample(pair.sample)
    cache.seen[ContentCache.key(img, img)] = (TensorComparison("out", earlier, role="output"), "resize.out")
    entry = found.entry(pair, cache)
    reused = [t for t in entry.tensors if t.name == "img"]
    assert entry.status == expected and [t.same_as for t in reused] == ["resize.out"]
    assert [t.status for t in reused] == [earlier]
