"""Call pairs settled by content hashes alone, judged without building their tensors.

In a diff of long runs, many call pairs hold the same contents on both sides: the same decoded
frame, a stage the port left alone. Such a pair's entry is the same every time up to its sample and
call ids: each tensor EQUAL by hash under its tolerance, or an earlier output's verdict reused. For
calls found through a run's index (``bmtrace.store.indexed_calls``), ``SettledPairs`` recognises
these pairs from the index columns (names, roles, kinds, dtypes, shapes, hash algorithms, hashes)
and builds their entries from a layout worked out once per stage and tensor layout, exactly as
``compare_pair`` would. Anything else goes the general way: a value to compare, an error, an
auto-traced op, a non-empty ``meta``, outputs that could hold predictions, a representation mapping
carried down the sample.
"""
from __future__ import annotations

import numpy as np

from ..compare import StageComparison
from ..compare.records import equal_by_hash
from ..store import schema
from .pairs import _reused, explicit_rule, note_modes
from .task import could_hold_predictions


class _Layout:
    """What a stage's calls with one tensor layout need: each tensor's fresh EQUAL verdict."""

    __slots__ = ("tensors", "explicit", "status")

    def __init__(self, tensors, explicit):
        self.tensors = tensors      # [(role, TensorComparison)] in recording order, inputs first
        self.explicit = explicit    # per tensor: an explicit rule forbids reusing an earlier verdict
        entry = StageComparison(None, None, 0)
        entry.tensors = [result for _, result in tensors]
        self.status = entry.finish()  # an entry's status when it reuses no verdict: one finish() for all


class _Row:
    """One tensor's index entry, as ``equal_by_hash`` and ``could_hold_predictions`` read it (meta is
    known to be empty)."""

    __slots__ = ("name", "dtype", "shape", "meta")

    def __init__(self, name, dtype, shape):
        self.name, self.dtype, self.shape, self.meta = name, dtype, shape, {}


class SettledPairs:
    """``layout(pair)`` says whether a call pair is settled by its hashes; ``entry(pair, cache)`` judges it."""

    def __init__(self, rules):
        self.rules = rules
        self.layouts = {}   # (stage, stage_b, columns ids, row codes and shapes) -> _Layout or None
        self.recent = {}    # id(pair) -> its layout: the prefetcher asks ahead of the diff
        self.structures = {}  # id(index columns) -> per row, a code of its structure

    def layout(self, pair):
        """The pair's _Layout when every tensor pair is settled by equal hashes, else None."""
        return self._settled(pair)[0]

    def _settled(self, pair):
        """(layout or None, the tensors' hashes)."""
        recent = self.recent
        try:
            return recent[id(pair)]
        except KeyError:
            if len(recent) > 256:
                recent.clear()
            found = recent[id(pair)] = self._find(pair)
            return found

    def _find(self, pair):
        call_a, call_b = pair.call_a, pair.call_b
        cols_a, cols_b = getattr(call_a, "_columns", None), getattr(call_b, "_columns", None)
        if cols_a is None or cols_b is None:
            return _UNSETTLED
        if call_a._stage_errors or call_b._stage_errors or call_a.may_have_op or call_b.may_have_op:
            return _UNSETTLED
        first_a, first_b, count = call_a._first, call_b._first, call_a._end - call_a._first
        if count != call_b._end - first_b or count == 0:
            return _UNSETTLED
        hashes_a, hashes_b = cols_a.hashes, cols_b.hashes
        digests = []
        for i in range(count):  # up to the first pair of hashes that differ: the rest is not read
            digest = hashes_a[first_a + i]
            if not digest or digest != hashes_b[first_b + i]:
                return _UNSETTLED
            digests.append(digest)
        key = (pair.stage, pair.stage_b, id(cols_a), id(cols_b), self._structure(cols_a, first_a, count),
               self._structure(cols_b, first_b, count))
        try:
            layout = self.layouts[key]
        except KeyError:
            layout = self.layouts[key] = self._new_layout(pair.stage, cols_a, first_a, cols_b, first_b, count)
        return layout, digests

    def _structure(self, columns, first, count):
        """The structure codes of rows ``first`` to ``first + count`` of ``columns``."""
        codes = self.structures.get(id(columns))
        if codes is None:
            codes = self.structures[id(columns)] = _structure_codes(columns)
        return tuple(codes[first:first + count])

    def _new_layout(self, stage, cols_a, first_a, cols_b, first_b, count):
        rows = [_decoded(cols_a, first_a + i) for i in range(count)]
        if rows != [_decoded(cols_b, first_b + i) for i in range(count)]:
            return None  # names, kinds, dtypes, shapes or algorithms differ: the general way words it
        names = [(role, name) for role, name, *_ in rows]
        if len(set(names)) != count:
            return None  # a name twice on one side: pair_tensors pairs (and notes) it its own way
        tensors, explicit, outputs = [], [], []
        for role, name, kind, dtype, shape, alg, meta_empty in rows:
            if not (schema.is_array(kind) and alg and meta_empty):
                return None
            row = _Row(name, dtype, shape)
            tensors.append((role, equal_by_hash(row, row, name, role, None, stage, self.rules)))
            explicit.append(explicit_rule(self.rules, stage, name, role))
            if role == "output":
                outputs.append(row)
        if [role for role, _ in tensors] != sorted((role for role, _ in tensors), key=("input", "output").index):
            return None  # rows not inputs first: the index was not written by this version
        if could_hold_predictions(_Outputs(outputs)):
            return None  # the task step reads these calls' values
        return _Layout(tensors, explicit)

    def entry(self, pair, cache):
        """The StageComparison of a pair ``layout`` accepted, or None when the sample carries a
        representation mapping (then ``compare_pair`` judges it)."""
        layout, digests = self._settled(pair)
        if layout is None:
            return None
        cache = cache.for_sample(pair.sample)
        if cache.mapping is not None:
            return None
        call_a, call_b = pair.call_a, pair.call_b
        entry = StageComparison(pair.sample, pair.stage, pair.occurrence, stage_b=pair.stage_b,
                                sample_b=pair.sample_b, call_a=call_a.id, call_b=call_b.id)
        entry.parent_a = call_a.parent
        first, algs = call_a._first, call_a._columns.coded["hash_alg"]
        seen, where = cache.seen, pair.stage + "."
        other_status = False  # a reused verdict that is not the fresh one's EQUAL (a value's, say)
        for i, (role, fresh) in enumerate(layout.tensors):
            alg, digest = algs[first + i], digests[i]
            key = (alg, digest, alg, digest)   # ContentCache's key of a pair of equal hashes
            known = seen.get(key)
            if known is not None and not layout.explicit[i]:
                result = _reused(known, fresh, fresh, role)
                entry.tensors.append(result)
                other_status = other_status or result.status != fresh.status
                continue
            result = fresh.__copy__()
            entry.tensors.append(result)
            if key not in seen:
                seen[key] = (result, where + fresh.name)
        note_modes(entry, call_a.mode, call_b.mode)
        if other_status:
            entry.finish()
        else:
            entry.status = layout.status  # what finish() gives for these statuses
        return entry


_UNSETTLED = (None, None)


class _Outputs:
    __slots__ = ("outputs",)

    def __init__(self, outputs):
        self.outputs = outputs


def _structure_codes(columns):
    """Per index row, a code for its role, name, kind, dtype, algorithm, meta and shape: rows with
    equal codes are equal in all of these (computed for all rows at once)."""
    rows = columns.rows
    parts = [np.asarray(columns.coded["role"].codes, dtype=np.int64)]
    parts += [np.asarray(c.codes, dtype=np.int64) for c in columns.tensor_coded]
    offsets = np.asarray(columns.shape_offsets, dtype=np.int64)
    ndim = np.diff(offsets)
    width = int(ndim.max()) if rows else 0
    dims = np.full((rows, width), -1, dtype=np.int64)
    if width:
        row_of = np.repeat(np.arange(rows), ndim)
        within = np.arange(row_of.size) - np.repeat(np.cumsum(ndim) - ndim, ndim)
        dims[row_of, within] = np.asarray(columns.shape_values, dtype=np.int64)[offsets[:-1][row_of] + within]
    parts += [np.asarray(columns.shape_null, dtype=np.int64), ndim] + list(dims.T)
    return _combined(parts, rows).tolist()


def _combined(parts, rows):
    """One int64 per row, equal exactly when the rows are equal in every part (mixed radix; when the
    radix grows too large, the codes so far are renumbered densely first)."""
    code, span = np.zeros(rows, dtype=np.int64), 1
    for part in parts:
        if not rows:
            break
        low = int(part.min())
        width = int(part.max()) - low + 1
        if span * width >= 1 << 62:
            _, code = np.unique(code, return_inverse=True)
            code, span = code.reshape(-1).astype(np.int64), int(code.max()) + 1
        if span * width >= 1 << 62:  # a part of huge values: renumbered too
            _, part = np.unique(part, return_inverse=True)
            part, low = part.reshape(-1).astype(np.int64), 0
            width = int(part.max()) + 1
        code = code * width + (part - low)
        span *= width
    return code


def _decoded(columns, row):
    name, kind, dtype, alg, meta = columns.tensor_coded
    return (columns.coded["role"][row], name[row], kind[row], dtype[row], columns.shape(row), alg[row],
            meta[row] == "{}")
