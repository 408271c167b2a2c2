"""The user guide in docs/: its runnable code blocks run, and real diff documents follow docs/diff.schema.json."""
import json
import os
import re

import numpy as np
import pytest

import bmtrace
from bmtrace.diff.nway import diff_many

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs")
# Pages in the order the guide's index lists them; later pages use the runs recording.md makes.
PAGES = re.findall(r"\]\(([a-z-]+\.md)\)", open(os.path.join(DOCS, "README.md")).read())
RUNNABLE = re.compile(r"^<!-- test -->\n```python\n(.*?)^```", re.S | re.M)


def _blocks(page):
    text = open(os.path.join(DOCS, page), encoding="utf-8").read()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in RUNNABLE.finditer(text)]


def _run_blocks(pages, namespace):
    for page in pages:
        for line, code in _blocks(page):
            exec(compile("\n" * (line - 1) + code, os.path.join("docs", page), "exec"), namespace)


def test_index_lists_every_page():
    """docs/README.md links every page of docs/ (so the ordered run below covers them all)."""
    pages = sorted(f for f in os.listdir(DOCS) if f.endswith(".md") and f != "README.md")
    assert sorted(set(PAGES)) == pages


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)])
def test_runnable_blocks_of_page_run(page, tmp_path, monkeypatch):
    """The page's `<!-- test -->` python blocks run in a fresh directory, after recording.md's (they make the runs)."""
    monkeypatch.chdir(tmp_path)
    _run_blocks(["recording.md"] if page == "recording.md" else ["recording.md", page], {"__name__": "docs"})


def test_exit_codes_are_documented():
    """diffing.md's exit-code table lists 0, 1, 2, 3, 4, 70 and 130."""
    text = open(os.path.join(DOCS, "diffing.md"), encoding="utf-8").read()
    table = text[text.index("## Exit codes"):]
    assert re.findall(r"^\| (\d+) \|", table, re.M) == ["0", "1", "2", "3", "4", "70", "130"]


def test_every_hint_cause_is_documented():
    """explain.md names every cause in bmtrace.explain.CAUSES."""
    from bmtrace.explain import CAUSES

    text = open(os.path.join(DOCS, "explain.md"), encoding="utf-8").read()
    assert all("| `%s` |" % cause in text for cause in CAUSES)


# -- the schema ---------------------------------------------------------------------------------------

def _schema():
    with open(os.path.join(DOCS, "diff.schema.json"), encoding="utf-8") as fh:
        return json.load(fh)


def _mini_validate(value, schema, root, path="$"):
    """Problems of ``value`` against the subset of JSON Schema diff.schema.json uses (when jsonschema is absent)."""
    if "$ref" in schema:
        return _mini_validate(value, root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root, path)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not _mini_validate(value, s, root, path)]
        return [] if len(matching) == 1 else ["%s matches %d of oneOf" % (path, len(matching))]
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    problems = []
    if "const" in schema and value != schema["const"]:
        return ["%s is %r, not %r" % (path, value, schema["const"])]
    if "enum" in schema and value not in schema["enum"]:
        return ["%s is %r, not one of %s" % (path, value, schema["enum"])]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]

        def fits(kind):
            if kind == "integer":
                return isinstance(value, int) and not isinstance(value, bool)
            if kind == "number":
                return isinstance(value, (int, float)) and not isinstance(value, bool)
            return isinstance(value, kinds[kind])

        if not any(fits(k) for k in types):
            return ["%s has type %s, not %s" % (path, type(value).__name__, types)]
    if isinstance(value, dict):
        problems += ["%s lacks %r" % (path, k) for k in schema.get("required", ()) if k not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += _mini_validate(value[key], sub, root, "%s.%s" % (path, key))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in set(value) - set(schema.get("properties", {})):
                problems += _mini_validate(value[key], extra, root, "%s.%s" % (path, key))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append("%s has fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, item in enumerate(value):
                problems += _mini_validate(item, schema["items"], root, "%s[%d]" % (path, i))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append("%s < %s" % (path, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            problems.append("%s > %s" % (path, schema["maximum"]))
    return problems


def _problems(doc):
    schema = _schema()
    try:
        import jsonschema
    except ImportError:
        return _mini_validate(doc, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(doc)]


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """Real documents: diverged with hints, fail-fast, accepted, one-sided samples allowed, and N-way."""
    from diff.diff_helpers import make_pipeline, record
    from bmtrace.diff.accept import write_accepted

    base = tmp_path_factory.mktemp("schema")
    a = record(base / "a", ["x.jpg", "y.jpg"], make_pipeline(), side="a")
    b = record(base / "b", ["x.jpg", "y.jpg"], make_pipeline(resize_shift=1), side="b")
    c = record(base / "c", ["x.jpg"], make_pipeline(logits_noise=0.01), side="c")
    accepted = base / "accepted.json"
    write_accepted(bmtrace.diff(a, c), accepted)
    stats_a = record(base / "stats_a", ["x.jpg", "y.jpg"], make_pipeline(), side="a", mode="stats")
    stats_b = record(base / "stats_b", ["x.jpg", "y.jpg"], make_pipeline(resize_shift=1), side="b", mode="stats")
    rgb, bgr = _decoded(base / "rgb", channels=slice(None)), _decoded(base / "bgr", channels=slice(None, None, -1))
    return {
        "stats": bmtrace.diff(stats_a, stats_b).to_json(),
        "represented": bmtrace.diff(rgb, bgr).to_json(),
        "diverged": bmtrace.diff(a, b).to_json(),
        "fail_fast": bmtrace.diff(a, b, fail_fast=True).to_json(),
        "accepted": bmtrace.diff(a, c, accepted=str(accepted), allow_missing=True).to_json(),
        "nway": json.loads(json.dumps(diff_many(a, [b, c]).to_json(), allow_nan=False)),
    }


def _decoded(path, channels):
    """A run of one decode stage whose output is a colour image with its channels in ``channels`` order."""
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with bmtrace.run(str(path)), bmtrace.sample("x.jpg"), bmtrace.trace_stage("decode") as stage:
        stage.output(np.ascontiguousarray(image[..., channels]))
    return str(path)


@pytest.mark.parametrize("kind", ["diverged", "fail_fast", "accepted", "nway", "stats", "represented"])
def test_real_documents_follow_the_schema(documents, kind):
    """Each real document validates against docs/diff.schema.json (stats mode: tensors judged from
    sketches; a BGR port of an RGB decode: equal under a representation change)."""
    assert _problems(documents[kind]) == []


def test_the_documents_show_the_values_the_schema_once_missed(documents):
    bases = {t["basis"] for stage in documents["stats"]["stages"] for t in stage["tensors"]}
    statuses = {t["status"] for stage in documents["represented"]["stages"] for t in stage["tensors"]}
    assert "sketch" in bases and "equal_under_representation" in statuses


def test_schema_rejects_a_broken_document(documents):
    """A document with a misspelt stage status and no 'aligned' key fails the schema."""
    doc = json.loads(json.dumps(documents["diverged"]))
    doc["stages"][0]["status"] = "alligned"
    del doc["aligned"]
    problems = _problems(doc)
    assert problems and any("aligned" in p for p in problems)


def test_mini_validator_agrees_with_jsonschema(documents):
    """The fallback validator also passes the real document and fails the broken one."""
    schema = _schema()
    assert _mini_validate(documents["nway"], schema, schema) == []
    broken = json.loads(json.dumps(documents["diverged"]))
    broken["stages"][0]["tensors"][0]["max_abs_diff"] = "big"
    assert _mini_validate(broken, schema, schema)
