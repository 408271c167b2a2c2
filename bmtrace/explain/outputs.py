"""output_order: a multi-output stage whose tensors match under a permutation or a renaming.

sail.Engine.process returns a dict built from a C++ std::map, so its keys come back sorted by name
rather than in bmodel order (sophon-sail v3.10, SOPHON.md); tpu-mlir renames ONNX outputs
(`logits` -> `logits_Gemm`, `logits_Gemm_f32` for INT8).
"""
from __future__ import annotations

import itertools
import re

import numpy as np

from .hint import Hint

# Two outputs "hold the same tensor" when they agree like an INT8 bmodel agrees with its float
# original (tpu-mlir npz_tool SIMILAR: cosine > 0.99).
SAME_COSINE = 0.99
MAX_BRUTE_FORCE = 7
# Single values (a ratio, a pad) are left out of the matching: equal by coincidence, they prove no permutation.
MIN_TENSOR = 2
# Matching looks at a strided subset of each tensor; the reported residual at a larger one.
MATCH_CAP = 1 << 16
RESIDUAL_CAP = 1 << 18


def _numeric(outputs):
    out = []
    for name, value in outputs.items():
        try:
            arr = np.asarray(value)
        except Exception:
            continue
        if arr.dtype.kind in "uifb" and arr.size >= MIN_TENSOR:
            out.append((str(name), arr))
    return out


def _similarity(x, y, cap=MATCH_CAP):
    """(cosine, max abs diff) of two same-shape arrays on at most cap strided elements, or None."""
    if x.size != y.size or np.squeeze(x).shape != np.squeeze(y).shape:
        return None
    step = max(1, -(-x.size // cap))
    x = np.asarray(x.reshape(-1)[::step], dtype=np.float64)
    y = np.asarray(y.reshape(-1)[::step], dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    max_abs = float(np.max(np.abs(x - y)))
    nx, ny = float(np.sqrt(np.sum(x * x))), float(np.sqrt(np.sum(y * y)))
    if nx == 0 or ny == 0:
        cosine = 1.0 if nx == ny else 0.0
    else:
        cosine = float(np.sum(x * y) / (nx * ny))
    # Cosine alone is fooled by a shared offset (any two sigmoid maps of one shape score ~0.98):
    # the centred correlation must agree too.
    cx, cy = x - x.mean(), y - y.mean()
    sx, sy = float(np.sqrt(np.sum(cx * cx))), float(np.sqrt(np.sum(cy * cy)))
    if sx > 0 and sy > 0:
        cosine = min(cosine, float(np.sum(cx * cy) / (sx * sy)))
    return cosine, max_abs


def _assign(na, nb):
    """One-to-one content assignment A index -> B index among similar pairs, and whether it is complete."""
    sim = {}
    for i, (_, x) in enumerate(na):
        for j, (_, y) in enumerate(nb):
            s = _similarity(x, y)
            if s is not None and s[0] >= SAME_COSINE:
                sim[i, j] = s
    if len(na) == len(nb) and len(na) <= MAX_BRUTE_FORCE:
        best = None
        for perm in itertools.permutations(range(len(nb)), len(na)):
            if all((i, j) in sim for i, j in enumerate(perm)):
                # Prefer the closest assignment: highest total cosine, then smallest worst diff.
                score = (sum(sim[i, j][0] for i, j in enumerate(perm)),
                         -max(sim[i, j][1] for i, j in enumerate(perm)))
                if best is None or score > best[0]:
                    best = (score, perm)
        if best:
            return dict(enumerate(best[1])), True
    # No complete assignment (or too many outputs to try all): pair greedily, closest first.
    mapping, used = {}, set()
    for (i, j), s in sorted(sim.items(), key=lambda kv: (-kv[1][0], kv[1][1])):
        if i not in mapping and j not in used:
            mapping[i] = j
            used.add(j)
    return mapping, len(mapping) == len(na) == len(nb)


def _inner(name):
    """The key inside a recorded container path: out['logits'] -> logits."""
    m = re.search(r"\[['\"]?([^'\"\]]+)['\"]?\]$", name)
    return m.group(1) if m else name


def _pairs_diff(na, nb, pairs):
    worst = 0.0
    for i, j in pairs:
        s = _similarity(na[i][1], nb[j][1], RESIDUAL_CAP)
        if s is None:
            return None
        worst = max(worst, s[1])
    return worst


def diagnose_outputs(outputs_a, outputs_b):
    """An output_order hint when B's outputs are A's permuted and/or renamed, else []."""
    na, nb = _numeric(outputs_a), _numeric(outputs_b)
    if not na or not nb:
        return []
    mapping, complete = _assign(na, nb)
    # A partial assignment still shows a permutation, but only with at least two tensors paired.
    if not mapping or (not complete and len(mapping) < 2):
        return []
    names_a, names_b = [n for n, _ in na], [n for n, _ in nb]
    index_b = {n: j for j, n in enumerate(names_b)}
    by_name = [(i, index_b[n]) for i, n in enumerate(names_a) if n in index_b]
    content = sorted(mapping.items())
    positional = [(i, i) for i, _ in content if i < len(nb)]
    if by_name and all(mapping.get(i, j) == j for i, j in by_name) and \
            all(names_a[i] == names_b[j] for i, j in content):
        return []  # names already pair the same tensors: no order or naming problem here
    permuted = any(i != j for i, j in content)
    # With the same set of names on both sides, differing pairs are a permutation, not a renaming.
    renamed = [] if set(names_a) == set(names_b) else [
        (names_a[i], names_b[j]) for i, j in content if names_a[i] != names_b[j]]
    if not permuted and not renamed:
        return []
    after = _pairs_diff(na, nb, content)
    before = _pairs_diff(na, nb, by_name if len(by_name) == len(na) else positional)
    if not positional:
        before = None
    pairs_text = ", ".join("A %s = B %s" % (names_a[i], names_b[j]) for i, j in content)
    details = {"mapping": {names_a[i]: names_b[j] for i, j in content},
               "before_max_abs": before, "after_max_abs": after,
               "b_sorted_by_name": names_b == sorted(names_b) and len(names_b) > 1}
    if not complete:
        details["unmatched_a"] = [names_a[i] for i in range(len(na)) if i not in mapping]
        details["unmatched_b"] = [names_b[j] for j in range(len(nb)) if j not in mapping.values()]
    parts = []
    confidence = 0.7
    if permuted:
        details["kind"] = "permutation"
        parts.append("B's outputs are A's in another order (%s): sail.Engine.process returns a dict "
                     "sorted by output name, not in bmodel order; index outputs by name "
                     "(engine.get_output_names(graph)) instead of list(outputs.values())" % pairs_text)
        confidence = 0.9 if details["b_sorted_by_name"] or before is None or (
            after is not None and before > 2 * after) else 0.7
    compiler = [(x, y) for x, y in renamed if _inner(y).startswith(_inner(x) + "_")]
    if renamed:
        details["renamed"] = {x: y for x, y in renamed}
        if compiler:
            details["kind"] = "renamed" if not permuted else "permutation+renamed"
            parts.append("outputs were renamed by the compiler (%s): tpu-mlir appends the producing op "
                         "(and _f32 for INT8); map them by name in the diff (stage map) or read the "
                         "names from the bmodel" % ", ".join("%s -> %s" % p for p in compiler))
        elif not permuted:
            details["kind"] = "renamed"
            parts.append("the same tensors carry other names in B (%s); give the diff a name map"
                         % ", ".join("%s -> %s" % p for p in renamed))
    if not parts:
        return []
    if not complete:
        confidence *= 0.8  # some outputs differ in content too; the pairing is less certain
        parts.append("(%d of A's %d outputs paired by content)" % (len(mapping), len(na)))
    return [Hint("output_order", "; ".join(parts), confidence, after, details)]


def diagnose(ev):
    """An output_order hint when B's stage outputs are A's permuted and/or renamed, else []."""
    if not ev.outputs_a or not ev.outputs_b:
        return []
    return diagnose_outputs(ev.outputs_a, ev.outputs_b)
