"""Compare one paired call: its tensors, by name, on the cheapest sound basis, with a content cache.

Equal content hashes settle a pair without loading it, and a stage input holding the same contents
as an earlier output of its sample takes that output's verdict (and tolerance) instead of being
compared again.

Representations: when B's tensor is exactly A's in another representation (BGR instead of RGB, CHW
instead of HWC, x255, a wider dtype; ``bmtrace.compare.representation``), the pair is
``equal_under_representation``, a finding rather than a divergence, and the mapping is carried down
the sample: later tensors are compared after putting A in B's representation, so a stage is judged on
what it adds, not on a colour order it inherited. The mapping ends where an output equals A's as is
(one side converted), or is clearly nearer A's as recorded than in the mapping (the port converted back
inside a stage that also changes values: ``_nearer``).
"""
from __future__ import annotations

import math

import numpy as np

from ..compare import StageComparison, Status, TensorComparison, compare_arrays, compare_records
from ..store.indexed_calls import STATISTIC_COLUMNS
from .align import pair_tensors


class ContentCache:
    """Verdicts already reached for a (content of A, content of B) pair within one sample.

    A stage's input is usually an earlier stage's output. Reusing that verdict halves the work of a
    pipeline diff and judges the input with its producer's tolerance: ``--tol resize=1`` accepts the
    one-LSB image everywhere it flows, not only at resize.
    """

    def __init__(self):
        self.sample = object()
        self.seen = {}
        self.mapping = None  # the representation mapping carried down the current sample

    def for_sample(self, sample):
        """Start over when the sample changes (keeps the cache small and the pairing local)."""
        if sample != self.sample:
            self.sample = sample
            self.seen = {}
            self.mapping = None
        return self

    @staticmethod
    def key(ta, tb):
        """What ``get`` and ``put`` take for the pair ``ta``, ``tb``: their hashes (None without two)."""
        if ta.hash and tb.hash:
            return (getattr(ta, "hash_alg", None), ta.hash, getattr(tb, "hash_alg", None), tb.hash)
        return None

    def get(self, key):
        return self.seen.get(key) if key is not None else None

    def put(self, key, result, stage):
        if key is not None and result.status != Status.ERROR:
            self.seen.setdefault(key, (result, stage))


def compare_pair(pair, rules, notes=None, cache=None):
    """Compare one CallPair into a StageComparison (status set)."""
    call_a, call_b = pair.call_a, pair.call_b
    entry = StageComparison(pair.sample, pair.stage, pair.occurrence, stage_b=pair.stage_b,
                            sample_b=pair.sample_b,
                            call_a=call_a.id if call_a is not None else None,
                            call_b=call_b.id if call_b is not None else None)
    if call_a is not None:
        entry.parent_a = call_a.parent
    for side, call in (("a", call_a), ("b", call_b)):
        # (a call found through the index knows it names no op: its function is then not read)
        function = getattr(call, "function", None) if getattr(call, "may_have_op", True) else None
        if isinstance(function, dict) and function.get("op"):  # an auto-traced library call
            entry.extra["op_" + side] = function["op"]
            entry.extra["params_" + side] = function.get("params") or {}
    if call_b is None:
        entry.status = Status.ONLY_IN_A
        return entry
    if call_a is None:
        entry.status = Status.ONLY_IN_B
        return entry
    cache = (cache or ContentCache()).for_sample(pair.sample)
    entry.error_a, entry.error_b = call_a.error, call_b.error
    # No sample in the text: the same fallback in every sample is one warning, not thousands.
    where = "stage %s: " % pair.stage
    for role, side_a, side_b in (("input", call_a.inputs, call_b.inputs),
                                 ("output", call_a.outputs, call_b.outputs)):
        if role == "output":
            entry.carried_mapping = cache.mapping  # what the stage received: explain judges it against this
        for ta, tb in pair_tensors(side_a, side_b, notes, where + role + "s: "):
            entry.tensors.append(_compare_tensor(ta, tb, role, pair.stage, rules, cache))
    note_modes(entry, getattr(call_a, "mode", "full"), getattr(call_b, "mode", "full"))
    entry.finish()
    return entry


def note_modes(entry, mode_a, mode_b):
    """Say on ``entry`` when its calls were recorded in different modes."""
    if mode_a != mode_b:
        entry.notes.append("recorded in %s mode in A and %s mode in B" % (mode_a, mode_b))


def explicit_rule(rules, stage, name, role):
    """True when a rule names this very tensor (or, for an output, its stage): it wins over reusing an
    earlier verdict on the same contents."""
    return rules.names_tensor(stage, name) or (role == "output" and stage in rules.overrides)


def _compare_tensor(ta, tb, role, stage, rules, cache):
    if ta is None or tb is None:
        return TensorComparison((ta or tb).name, Status.ONLY_IN_A if tb is None else Status.ONLY_IN_B,
                                role=role, shape_a=ta.shape if ta is not None else None,
                                shape_b=tb.shape if tb is not None else None,
                                dtype_a=ta.dtype if ta is not None else None,
                                dtype_b=tb.dtype if tb is not None else None)
    key = cache.key(ta, tb)
    known = cache.get(key)
    if known is not None and not explicit_rule(rules, stage, ta.name, role):
        return _reused(known, ta, tb, role)
    loaded = []
    result = compare_records(ta, tb, stage=stage, rules=rules, loaded=loaded)
    result.role = role
    if result.status in (Status.DIVERGED, Status.SIMILAR, Status.SHAPE_MISMATCH) and result.basis == "payload":
        result = _under_representation(result, ta, tb, role, stage, rules, cache, loaded)
    elif role == "output" and result.passed and result.status != Status.REPRESENTED:
        cache.mapping = None  # B's output equals A's as is: the port converted, the mapping ends here
    cache.put(key, result, "%s.%s" % (stage, ta.name))
    return result


def _under_representation(result, ta, tb, role, stage, rules, cache, loaded=()):
    """The pair judged in B's representation: exactly equal under a mapping, or compared after it."""
    try:
        from ..compare.representation import SCALES, find_mapping
    except ImportError:
        return result
    carried = cache.mapping
    # Cheapest first: shapes and recorded min/max rule most pairs out without touching the payloads.
    if not (_image_like(ta) and _image_like(tb)):
        return result
    scales = SCALES + ((carried.scale,) if carried is not None else ())
    possible = not _ruled_out_by_stats(ta, tb, scales)
    if not possible and carried is None:
        return result
    if loaded:
        a, b = loaded[0]
    else:
        try:
            a, b = ta.load(), tb.load()
        except Exception:  # compare_records could load them; a race with deletion is not ours to report
            return result
    # Representations are those of images (colour order, layout, pixel scale): a vector of three
    # values reversed is a different result, not BGR. A constant tensor "equals" every transpose of
    # itself: that proves nothing about the layout.
    informative = possible and (a.shape == b.shape or not _constant(a))
    mapping = find_mapping(a, b, ta.meta, tb.meta, prefer=carried) if informative else None
    if mapping is not None:
        mapped = TensorComparison(result.name, Status.REPRESENTED, role=role, name_b=result.name_b,
                                  shape_a=result.shape_a, shape_b=result.shape_b, dtype_a=result.dtype_a,
                                  dtype_b=result.dtype_b, basis="payload")
        mapped.tolerance = result.tolerance
        mapped.max_abs_diff, mapped.equal_ratio, mapped.cosine = 0.0, 1.0, 1.0
        mapped.representation = mapping.to_json()
        if role == "output" or cache.mapping is None:
            cache.mapping = mapping
        return mapped
    if carried is None:
        return result
    try:
        a_as_b = carried.apply(a)
    except (ValueError, TypeError):
        return result
    if a_as_b.size != b.size:
        return result
    again = compare_arrays(a_as_b, b, name=result.name, role=role, stage=stage, rules=rules,
                           meta_a=tb.meta, meta_b=tb.meta)
    again.name_b = result.name_b
    again.shape_a, again.dtype_a = result.shape_a, result.dtype_a
    again.representation = carried.to_json()
    if again.passed:
        again.status = Status.REPRESENTED
    elif result.status != Status.SHAPE_MISMATCH and _nearer(result, again):
        # B's values are nearer A's as recorded than in the carried representation: the port converted
        # back (inside this stage, say cvtColor in its normalize). Judged as recorded, carried no further.
        if role == "output":
            cache.mapping = None
        return result
    return again


# As recorded, B must be this much nearer A (mean |A-B|) than in the carried representation to end it: on
# near-grey or dark images a colour swap changes little, and a near-tie must not flip the mapping.
NEARER_MARGIN = 0.5


def _nearer(first, second):
    """True when comparison ``first`` found B clearly nearer A than ``second`` did: mean |A-B| under
    ``NEARER_MARGIN`` times the other's, max |A-B| and cosine no worse."""
    x, y = first.mean_abs_diff, second.mean_abs_diff
    if x is None or y is None or not x < NEARER_MARGIN * y:
        return False
    if first.max_abs_diff is not None and second.max_abs_diff is not None \
            and first.max_abs_diff > second.max_abs_diff:
        return False  # (a dark photo: the swap changes little on average, much at its bright pixels)
    return first.cosine is None or second.cosine is None or first.cosine >= second.cosine


def _reused(known, ta, tb, role):
    """A copy of an earlier verdict on the same contents, renamed for this tensor."""
    source, where = known
    result = source.__copy__()  # with a notes list of its own
    result.name = ta.name
    result.name_b = tb.name if tb.name != ta.name else None
    result.role = role
    result.same_as = where
    return result


def _constant(x):
    flat = x.reshape(-1)
    return bool(flat.size) and x.dtype.kind in "biuf" and bool((flat == flat[0]).all())


def _image_like(x):
    """At least two axes of 8 or more (height and width) once size-1 axes are dropped."""
    return sum(1 for n in (x.shape or ()) if n >= 8) >= 2


def _ruled_out_by_stats(ta, tb, scales):
    """True when the recorded statistics prove that no mapping puts A onto B.

    A mapping moves values (transpose, channel flip) and multiplies them by one scale, so B's min,
    max, mean and std are A's times that scale, up to the few ulps per element the exact check
    allows (at most that times max |B| for each of them). The slack here is far wider: this screen
    may only ever skip pairs the exact check would reject.
    """
    if any(getattr(t, "nan_count", None) != 0 or getattr(t, "inf_count", None) != 0 for t in (ta, tb)):
        return False  # recorded statistics are over finite values only
    if any(_kind(t.dtype) not in "iuf" for t in (ta, tb)):
        return False
    pairs = list(zip(_statistics(ta), _statistics(tb)))
    if any(x is None or y is None for x, y in pairs[:2]):
        return False
    known = [(x, y) for x, y in pairs if x is not None and y is not None]
    slack = 1e-4 * max(abs(v) for pair in pairs[:2] for v in pair) + 1e-30
    for scale in scales:
        if all(abs(x * scale - y) <= slack * max(scale, 1.0) for x, y in known):
            return False
    return True


def _statistics(tensor):
    """min, max, mean and std as finite floats (None: not recorded, or not finite). A tensor found through
    its run's index answers from the index: screening a pair then parses no journal line (the comparing
    thread holds the GIL while it parses, and the threads reading payloads wait: bench_diff's worst case
    took 0.30-0.33 s with the lines parsed, 0.22-0.27 s without, best of 7 in four rounds)."""
    indexed = getattr(tensor, "statistics", None)
    values = indexed() if indexed is not None else None
    if values is None:
        values = [getattr(tensor, key, None) for key in STATISTIC_COLUMNS]
    return [_number(value) for value in values]


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _kind(dtype):
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"
