"""Pair the records of two runs: calls by (sample, stage, occurrence), tensors by name.

Samples pair by key, so the order they were processed in, worker threads, or samples skipped on
one side do not matter. Stages named differently in the two programs pair through an explicit
map (A name -> B name). Nothing pairs silently: every fallback (sample keys matched by file
name, tensors matched by position) is recorded as a warning, and when nothing at all pairs an
AlignmentError lists both sides' stages and samples.
"""
from __future__ import annotations

import ntpath
import posixpath
from collections import OrderedDict, namedtuple
from functools import partial

import numpy as np

from ..errors import AlignmentError, UsageError
from ..store.indexed_calls import collector_paused, picked


class CallPair(namedtuple("CallPair", "sample sample_b stage stage_b occurrence call_a call_b")):
    """One stage call of run A and its partner in run B; either side may be None.

    A tuple: a long diff has 300,000 of these, made without running Python code for each."""

    __slots__ = ()

    def __repr__(self):
        return "<CallPair %s sample=%r #%d a=%s b=%s>" % (
            self.stage, self.sample, self.occurrence, self.call_a is not None, self.call_b is not None)


class Alignment:
    """The pairing of two runs.

    Attributes:
        pairs: CallPair list: for each sample in run A's order, A's calls in recording order
            (each with its B partner or None), then B's unpaired calls; then samples only in B.
        stage_order: stage names in run A's order, then stages found only in B (under A's names
            where mapped).
        sample_pairs: list of (key in A, key in B); ``MISSING`` on the side that lacks the sample
            (None is a real key: records made outside any ``bmtrace.sample()``).
        warnings: human-readable notes about fallbacks and unpaired records.
    """

    def __init__(self):
        self.pairs = []
        self.stage_order = []
        self.sample_pairs = []
        self.warnings = []

    @property
    def paired_calls(self):
        """Number of call pairs with both sides present."""
        return sum(1 for p in self.pairs if p.call_a is not None and p.call_b is not None)


class _Missing:
    """The absent side of a sample pair (None cannot say it: it is the key of unkeyed records)."""

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False


MISSING = _Missing()


def _basename(key):
    if not isinstance(key, str):
        return None
    return posixpath.basename(ntpath.basename(key)) or None


def pair_samples(samples_a, samples_b, warnings):
    """Pair sample keys: exactly first, then by unique file base name (with a warning).

    Returns:
        list of ``(key_a, key_b)`` in A's order, then B-only keys; ``MISSING`` marks an absent side.
    """
    if samples_a == samples_b:
        return [(s, s) for s in samples_a]  # the usual case: the same keys, in the same order
    in_b = set(samples_b)
    exact = set(s for s in samples_a if s in in_b)
    rest_a = [s for s in samples_a if s not in exact]
    rest_b = [s for s in samples_b if s not in exact]
    bases_a, bases_b = {}, {}
    for s in rest_a:
        bases_a.setdefault(_basename(s), []).append(s)
    for s in rest_b:
        bases_b.setdefault(_basename(s), []).append(s)
    by_name = {}
    for s in rest_a:
        base = _basename(s)
        if base is not None and len(bases_a[base]) == 1 and len(bases_b.get(base, ())) == 1:
            by_name[s] = bases_b[base][0]
    if by_name:
        key_a, key_b = next(iter(by_name.items()))
        warnings.append("paired %d sample(s) by file name because their keys differ (e.g. A %r = "
                        "B %r); use the same sample keys in both programs to silence this"
                        % (len(by_name), key_a, key_b))
    pairs = []
    for s in samples_a:
        if s in exact:
            pairs.append((s, s))
        else:
            pairs.append((s, by_name.get(s, MISSING)))
    used_b = set(by_name.values())
    pairs.extend((MISSING, s) for s in rest_b if s not in used_b)
    return pairs


def check_stage_map(stage_map, stages_a, stages_b, warnings):
    """Validate an A->B stage map; returns the inverse (B name -> A name)."""
    inverse = {}
    for a_name, b_name in stage_map.items():
        if b_name in inverse:
            raise UsageError("the stage map sends both %r and %r to B stage %r; each B stage can "
                             "pair with one A stage" % (inverse[b_name], a_name, b_name))
        inverse[b_name] = a_name
        if a_name not in stages_a:
            warnings.append("--map %s=%s: run A has no stage %r (its stages: %s)"
                            % (a_name, b_name, a_name, ", ".join(stages_a) or "none"))
        if b_name not in stages_b:
            warnings.append("--map %s=%s: run B has no stage %r (its stages: %s)"
                            % (a_name, b_name, b_name, ", ".join(stages_b) or "none"))
    return inverse


def _group_by_sample(run):
    """One pass over the run's calls: sample key -> calls in recording order."""
    groups = OrderedDict()
    for call in run.calls():
        groups.setdefault(call.sample, []).append(call)
    return groups


def _call_codes(run):
    """The run's calls as arrays (``Run.call_codes``) when it is served from its index, else None."""
    codes = getattr(run, "call_codes", None)
    return codes() if codes is not None else None


def align(run_a, run_b, stage_map=None):
    """Pair the stage calls of two opened runs.

    Args:
        run_a: reference run (``bmtrace.open_run`` result).
        run_b: run under test.
        stage_map: ``{A stage name: B stage name}`` for stages named differently.

    Returns:
        Alignment.

    Raises:
        AlignmentError: no call pairs at all; the message lists both sides' stages and samples.
        UsageError: the stage map sends two A stages to one B stage.
    """
    out = Alignment()
    stages_a, stages_b = run_a.stages(), run_b.stages()
    stage_map = dict(stage_map or {})
    inverse = check_stage_map(stage_map, stages_a, stages_b, out.warnings)

    def b_as_a(name):
        """B's stage name in A's terms."""
        if name in inverse:
            return inverse[name]
        if name in stage_map:
            # A's stage of this name is mapped to another B stage: B's namesake must not pair,
            # so it gets a row of its own, labelled as B's.
            return "%s (run B)" % name
        return name

    codes_a, codes_b = _call_codes(run_a), _call_codes(run_b)
    if codes_a is not None and codes_b is not None:
        samples_a, samples_b = run_a.samples(), run_b.samples()
    else:
        codes_a = codes_b = None
        groups_a, groups_b = _group_by_sample(run_a), _group_by_sample(run_b)
        samples_a, samples_b = list(groups_a), list(groups_b)
    out.sample_pairs = pair_samples(samples_a, samples_b, out.warnings)
    pairs = None
    if codes_a is not None:
        pairs = coded_pairs(out.sample_pairs, codes_a, run_a.calls(), codes_b, run_b.calls(), b_as_a)
        if pairs is None:  # keys the arrays cannot tell apart: pair as below
            groups_a, groups_b = _group_by_sample(run_a), _group_by_sample(run_b)
    if pairs is None:
        pairs = _pairs_by_sample(out.sample_pairs, groups_a, groups_b, b_as_a)
    out.pairs = pairs
    stages_b_as_a = [b_as_a(s) for s in stages_b]
    out.stage_order = list(OrderedDict.fromkeys(list(stages_a) + stages_b_as_a))
    _check_something_paired(out, run_a, run_b, stages_a, stages_b, samples_a, samples_b)
    _note_unpaired_stages(out, stages_a, stages_b, b_as_a)
    return out


def _pairs_by_sample(sample_pairs, groups_a, groups_b, b_as_a):
    """The CallPairs, sample pair by sample pair: A's calls with their partners, then B's unpaired calls."""
    pairs = []
    for key_a, key_b in sample_pairs:
        calls_a = groups_a[key_a] if key_a is not MISSING else []
        calls_b = groups_b[key_b] if key_b is not MISSING else []
        sample = key_a if key_a is not MISSING else key_b
        by_key_b = OrderedDict()
        for call in calls_b:
            by_key_b[(b_as_a(call.stage), call.occurrence)] = call
        for call in calls_a:
            partner = by_key_b.pop((call.stage, call.occurrence), None)
            pairs.append(CallPair(
                sample, key_b if partner is not None else None, call.stage,
                partner.stage if partner is not None else None, call.occurrence, call, partner))
        for (stage, occurrence), call in by_key_b.items():
            pairs.append(CallPair(sample, key_b, stage, call.stage, occurrence, None, call))
    return pairs


def coded_pairs(sample_pairs, codes_a, calls_a, codes_b, calls_b, b_as_a):
    """What ``_pairs_by_sample`` gives, computed over the calls' code arrays (``indexed_calls.CallCodes``)
    of two indexed runs instead of call by call; None when two calls of a side share a key (then only the
    call-by-call pairing says which one pairs).

    Each call gets the key (sample pair, stage in A's terms, occurrence); A's calls find their partner by
    binary search among B's keys, and one stable sort puts the pairs in ``_pairs_by_sample``'s order.
    """
    if not len(codes_a.occurrences) or not len(codes_b.occurrences):
        return None  # a side without calls: nothing for arrays to speed up
    pair_of_a, pair_of_b = _sample_pair_numbers(sample_pairs, codes_a, codes_b)
    stage_ids = {}
    stage_of_a = [stage_ids.setdefault(name, len(stage_ids)) for name in codes_a.stages]
    names_b_as_a = [b_as_a(name) for name in codes_b.stages]
    stage_of_b = [stage_ids.setdefault(name, len(stage_ids)) for name in names_b_as_a]
    occurrences = max(int(codes_a.occurrences.max()), int(codes_b.occurrences.max())) + 1
    if (len(sample_pairs) + 1) * (len(stage_ids) + 1) * occurrences >= 2 ** 62:
        return None  # keys that would overflow int64
    pair_a, pair_b = pair_of_a[codes_a.sample_codes], pair_of_b[codes_b.sample_codes]
    key_a = _call_keys(pair_a, np.asarray(stage_of_a)[codes_a.stage_codes], codes_a.occurrences, len(stage_ids),
                       occurrences)
    key_b = _call_keys(pair_b, np.asarray(stage_of_b)[codes_b.stage_codes], codes_b.occurrences, len(stage_ids),
                       occurrences)
    order_b = np.argsort(key_b, kind="stable")
    sorted_b = key_b[order_b]
    if _repeats(sorted_b) or _repeats(np.sort(key_a)):
        return None
    found = np.minimum(np.searchsorted(sorted_b, key_a), len(key_b) - 1)
    hit = sorted_b[found] == key_a
    partner = np.where(hit, order_b[found], -1)  # per A call, its B call (-1: none)
    unpaired_b = np.ones(len(key_b), dtype=bool)
    unpaired_b[partner[hit]] = False
    unpaired_b = np.flatnonzero(unpaired_b)
    # rows: A's calls (side 0), then B's unpaired calls (side 1), by sample pair, side, recording order
    row_pair = np.concatenate((pair_a, pair_b[unpaired_b]))
    row_side = np.concatenate((np.zeros(len(key_a), dtype=np.int8), np.ones(len(unpaired_b), dtype=np.int8)))
    row_call = np.concatenate((np.arange(len(key_a)), unpaired_b))
    order = np.lexsort((row_call, row_side, row_pair))
    row_pair, row_call, a_row = row_pair[order], row_call[order], row_side[order] == 0
    row_a = np.where(a_row, row_call, -1)  # -1 picks None
    row_b = np.where(a_row, partner[row_a], row_call)
    # stage in A's terms: A's names, then B's names as A's, in one list
    row_stage = np.where(a_row, codes_a.stage_codes[row_a], len(codes_a.stages) + codes_b.stage_codes[row_b])
    occurrence = np.where(a_row, codes_a.occurrences[row_a], codes_b.occurrences[row_b])
    stage_b = np.where(row_b >= 0, codes_b.stage_codes[row_b], -1)
    with collector_paused():
        return list(map(partial(tuple.__new__, CallPair), zip(
            _pick([a if a is not MISSING else b for a, b in sample_pairs], row_pair),
            _pick([b for _, b in sample_pairs], np.where(row_b >= 0, row_pair, -1)),
            _pick(list(codes_a.stages) + names_b_as_a, row_stage),
            _pick(codes_b.stages, stage_b),
            occurrence.tolist(), _pick(calls_a, row_a), _pick(calls_b, row_b))))


def _sample_pair_numbers(sample_pairs, codes_a, codes_b):
    """Per sample code of each run, the number of its sample pair (``pair_samples`` lists A's samples
    first, in A's order)."""
    order_a, order_b = codes_a.sample_order(), codes_b.sample_order()
    number_a = np.full(len(codes_a.samples), -1, dtype=np.int64)
    number_a[order_a] = np.arange(len(order_a))
    number_b = np.full(len(codes_b.samples), -1, dtype=np.int64)
    samples_b = [codes_b.samples[code] for code in order_b.tolist()]
    if samples_b == [key_b for _, key_b in sample_pairs]:
        number_b[order_b] = np.arange(len(order_b))  # the usual case: B's samples are A's, in A's order
    else:
        pair_of = {key_b: number for number, (_, key_b) in enumerate(sample_pairs) if key_b is not MISSING}
        number_b[order_b] = [pair_of[key] for key in samples_b]
    return number_a, number_b


def _call_keys(pair, stage, occurrence, stages, occurrences):
    return (pair * (stages + 1) + stage) * occurrences + occurrence


def _repeats(sorted_keys):
    return bool(len(sorted_keys) > 1 and (sorted_keys[1:] == sorted_keys[:-1]).any())


def _pick(items, rows):
    """``items[row]`` for each row, None for -1."""
    return picked(list(items) + [None], rows)


def _check_something_paired(out, run_a, run_b, stages_a, stages_b, samples_a, samples_b):
    """Fail loudly, listing both sides, when not a single call pairs."""
    if any(p.call_a is not None and p.call_b is not None for p in out.pairs):
        return
    if not out.pairs:
        raise AlignmentError("nothing to compare: neither run A (%s) nor run B (%s) holds a stage "
                             "call; check that the programs ran their traced stages while "
                             "recording" % (run_a.path, run_b.path))
    raise AlignmentError(
        "no stage call of run A pairs with one of run B (pairing is by sample, stage name and "
        "occurrence).\n  run A %s\n    stages:  %s\n    samples: %s\n  run B %s\n    stages:  %s\n"
        "    samples: %s\nIf the programs name their stages differently, pass --map A_STAGE=B_STAGE; "
        "if they key samples differently, use the same bmtrace.sample() keys in both."
        % (run_a.path, _listing(stages_a), _listing(samples_a), run_b.path, _listing(stages_b),
           _listing(samples_b)))


def _listing(items, limit=12):
    shown = ", ".join(repr(i) if not isinstance(i, str) else i for i in items[:limit])
    if len(items) > limit:
        shown += ", ... (%d in all)" % len(items)
    return shown or "(none)"


def _note_unpaired_stages(out, stages_a, stages_b, b_as_a):
    """Warn about stages of one run that pair with nothing, each named as its own run names it."""
    paired_a = set(b_as_a(s) for s in stages_b)
    only_a = [s for s in stages_a if s not in paired_a]
    only_b = [s for s in stages_b if b_as_a(s) not in set(stages_a)]
    if only_a and only_b and only_a[0] != only_b[0]:
        out.warnings.append("stages only in run A: %s; only in run B: %s. If some are the same "
                            "stage, pair them with --map A_STAGE=B_STAGE (e.g. --map %s=%s)"
                            % (", ".join(only_a), ", ".join(only_b), only_a[0], only_b[0]))
    elif only_a and only_b:
        out.warnings.append("stages only in run A: %s; only in run B: %s"
                            % (", ".join(only_a), ", ".join(only_b)))
    elif only_a:
        out.warnings.append("stages only in run A: %s" % ", ".join(only_a))
    elif only_b:
        out.warnings.append("stages only in run B: %s" % ", ".join(only_b))


def pair_tensors(tensors_a, tensors_b, warnings=None, where=""):
    """Pair two calls' tensors of one role: by name, then leftovers by position (with a warning).

    Position stands in for a name only when it is believable: one leftover on each side, or as many on
    each side with the same shape pair by pair (``resize(img)`` against ``resize(image)``; a tuple
    returned under other keys). Two functions with different signatures (``scale_boxes(img1_shape,
    det, img0_shape)`` against ``rescale(dets, ratio, pad, shape)``) leave their leftovers unpaired.

    Returns:
        list of ``(tensor_a or None, tensor_b or None)`` in A's order, then B's leftovers.
    """
    if len(tensors_a) == len(tensors_b) and _same_unique_names(tensors_a, tensors_b):
        return list(zip(tensors_a, tensors_b))  # the usual case: what pairing by name gives, sooner
    by_name_b = OrderedDict((t.name, t) for t in tensors_b)
    pairs = []
    leftover_a = []
    for ta in tensors_a:
        tb = by_name_b.pop(ta.name, None)
        if tb is None:
            leftover_a.append(len(pairs))
        pairs.append([ta, tb])
    leftover_b = list(by_name_b.values())
    if _positions_believable([pairs[slot][0] for slot in leftover_a], leftover_b):
        matched = []
        for slot, tb in zip(leftover_a, leftover_b):
            pairs[slot][1] = tb
            matched.append("%s=%s" % (pairs[slot][0].name, tb.name))
        if warnings is not None:
            warnings.append("%spaired tensors by position because their names differ: %s"
                            % (where, ", ".join(matched)))
        leftover_b = leftover_b[len(leftover_a):]
    pairs.extend([None, tb] for tb in leftover_b)
    return [tuple(p) for p in pairs]


def _same_unique_names(tensors_a, tensors_b):
    names = [ta.name for ta in tensors_a]
    if names != [tb.name for tb in tensors_b]:
        return False
    return len(names) < 2 or len(set(names)) == len(names)


def _positions_believable(left_a, left_b):
    if not left_a or not left_b:
        return False
    if len(left_a) == 1 and len(left_b) == 1:
        return True
    return len(left_a) == len(left_b) and all(
        getattr(ta, "shape", None) == getattr(tb, "shape", None) for ta, tb in zip(left_a, left_b))
