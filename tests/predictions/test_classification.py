"""Classification comparison on real torch softmax outputs and hand-built results."""
import json

import numpy as np
import pytest

from bmtrace.predictions import Classification, recognize_value
from bmtrace.predictions.classification import compare_classification, merge


def _logits(seed, classes=1000):
    return np.random.default_rng(seed).normal(size=(1, classes)).astype(np.float32)


def test_same_logits_agree_fully():
    """Identical logits: top-1 agrees, top-5 overlap 1, rank 1, no probability change."""
    a = recognize_value(_logits(0))
    result = compare_classification(a, recognize_value(_logits(0)))
    assert (result.top1_agree, result.top5_overlap_mean, result.rank_of_a_top1_max, result.max_prob_diff) == (1, 1.0, 1, 0.0)
    assert result.verdict().agrees


def test_rank_of_a_top1_in_b():
    """When B lowers A's top class to third place, the rank says 3 and top-1 disagrees."""
    logits = _logits(1)
    top = int(np.argmax(logits))
    b = logits.copy()
    b[0, top] = np.sort(logits[0])[-3] - 1e-3
    result = compare_classification(recognize_value(logits), recognize_value(b))
    assert result.top1_agree == 0 and result.rank_of_a_top1_max == 3


def test_probabilities_compared_after_torch_softmax():
    """Logits on one side and torch.softmax probabilities on the other compare as probabilities."""
    torch = pytest.importorskip("torch")
    logits = _logits(2)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    a, b = recognize_value(logits), recognize_value(probs)
    assert a.softmax_applied and not b.softmax_applied
    result = compare_classification(a, b)
    assert result.max_prob_diff < 1e-6 and result.softmax_applied and "softmax applied" in result.summary()


def test_top1_dicts_compare_by_class_and_score():
    """{"res", "score"} results: same class compares scores; another class is a top-1 change."""
    same = compare_classification(recognize_value({"res": 7, "score": 0.5}), recognize_value({"res": 7, "score": 0.75}))
    other = compare_classification(recognize_value({"res": 7, "score": 0.5}), recognize_value({"res": 9, "score": 0.5}))
    assert (same.top1_agree, same.max_prob_diff, other.top1_agree, other.rank_of_a_top1_max) == (1, 0.25, 0, None)


def test_merge_and_summary_over_samples():
    """Merging five samples, two of which change top-1, reads "top-1 agrees on 3/5" and fails top1=1.0."""
    results = []
    for seed in range(5):
        a = Classification(probs=np.eye(10)[seed] * 0.9 + 0.01)
        b = Classification(probs=np.eye(10)[seed if seed < 3 else seed + 1] * 0.9 + 0.01)
        results.append(compare_classification(a, b))
    total = merge(results)
    assert total.summary().startswith("top-1 agrees on 3/5")
    assert not total.verdict(top1=1.0).agrees and total.verdict(top1=0.6).agrees
    doc = json.loads(json.dumps(total.to_json()))
    assert {"kind", "top1_agree", "samples", "top5_overlap_mean", "rank_of_a_top1_max", "max_prob_diff"} <= set(doc)
    assert (doc["kind"], doc["top1_agree"], doc["samples"]) == ("classification", 3, 5)


def test_top_k_is_a_stable_argsort_prefix():
    """top_indices gives argsort's first k (largest first, ties by lower index) for ties, -0.0, inf,
    NaN and every k; a result's top(k) is the same each time it is asked."""
    from bmtrace.predictions.values import top_indices

    rng = np.random.default_rng(0)
    for t in range(3000):
        n, k = int(rng.integers(1, 40)), int(rng.integers(-1, 45))
        values = rng.integers(0, 5, n).astype(np.float64) if t % 2 else rng.random(n)
        if t % 7 == 0:
            values[rng.integers(0, n)] = np.nan
        if t % 11 == 0:
            values[values == 0] = -0.0
        if t % 13 == 0:
            values[rng.integers(0, n)] = np.inf
        assert np.array_equal(top_indices(values, k), np.argsort(-values, kind="mergesort")[:k]), (values, k)
    scores = np.array([0.1, 0.4, 0.4, 0.1])
    result = Classification(probs=scores)
    first = result.top(2)
    first[0] = 3  # a caller changing its copy changes nothing kept
    scores[3] = 0.9  # nor the scores it was made from
    assert result.top(2).tolist() == [1, 2] and result.top(3).tolist() == [1, 2, 0]
    assert result.top(-1).tolist() == [1, 2, 0]  # a slice's negative end, as before
