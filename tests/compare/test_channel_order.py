"""The channel-order search skips the permutations when one channel of B rules every order out: it must
name the same order (or none) as trying every permutation."""
import itertools

import numpy as np

from bmtrace.compare.sketches import SketchEvidence, _channel_figures


def _every_permutation(table_a, table_b):
    """The order a full search names: the first permutation of least error, within the swap limit."""
    a, b = np.array(table_a), np.array(table_b)
    n = a.shape[1]
    bound = float(np.max(np.abs(a - b)))
    if n < 2 or bound == 0.0:
        return None
    scale = float(np.max(np.abs(a))) or 1.0
    best, best_err = None, bound
    for order in itertools.permutations(range(n)):
        if order != tuple(range(n)):
            err = float(np.max(np.abs(a[:, list(order)] - b)))
            if err < best_err:
                best, best_err = order, err
    return best if best is not None and best_err <= min(1e-3 * scale + 1e-9, 0.1 * bound) else None


def _doc(table):
    return {"channels": dict(zip(("min", "max", "mean", "std"), np.asarray(table).tolist())), "channel_step": 1}


def test_pruned_search_names_the_orders_a_full_search_names():
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(3000):
        n = int(rng.integers(1, 5))
        a = rng.uniform(-1, 1, (4, n)) * rng.choice([1.0, 255.0])
        order = rng.permutation(n) if rng.random() < 0.7 else np.arange(n)
        if rng.random() < 0.3 and n >= 2:  # channels with the same statistics: ties between orders
            a[:, 1] = a[:, 0]
        noise = rng.choice([0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1.0]) * rng.standard_normal((4, n))
        b = a[:, order] + noise * (rng.random((4, n)) < 0.5)
        ev = SketchEvidence()
        _channel_figures(ev, _doc(a), _doc(b))
        expected = _every_permutation(a, b)
        assert ev.channel_order == expected, (a, b)
        found += expected is not None
    assert found > 300  # swaps were found, not only ruled out
