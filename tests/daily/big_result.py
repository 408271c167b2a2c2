"""A generated DiffResult of many samples x stages, built from result objects (no recording)."""
from bmtrace.compare.results import StageComparison, TensorComparison
from bmtrace.compare.tolerance import ToleranceRules
from bmtrace.diff import DiffResult

STAGES = ("read", "to_rgb", "resize", "pad", "normalize", "infer", "decode", "nms")


def big_result(n_samples=500, stages=STAGES, bad_every=3, first_bad_stage=2):
    """Every ``bad_every``-th sample diverges from stage ``first_bad_stage`` on; sample i's diff grows with i."""
    entries = []
    for i in range(n_samples):
        key = "images/img_%04d.jpg" % i
        for j, stage in enumerate(stages):
            diverged = j >= first_bad_stage and i % bad_every == 0
            entry = StageComparison(key, stage, 0, call_a="a%d-%d" % (i, j), call_b="b%d-%d" % (i, j))
            tensor = TensorComparison("out", "diverged" if diverged else "close", role="output",
                                      shape_a=(224, 224, 3), shape_b=(224, 224, 3), dtype_a="float32",
                                      dtype_b="float32", basis="payload")
            tensor.max_abs_diff = (0.5 + i / 1000.0) * (1 + j) if diverged else 1e-5
            tensor.mean_abs_diff = tensor.max_abs_diff / 10
            tensor.cosine = 0.98 if diverged else 1.0
            tensor.equal_ratio = 0.5
            entry.tensors.append(tensor)
            entry.finish()
            entries.append(entry)
    return DiffResult("runs/a", "runs/b", entries, list(stages), {}, [], ToleranceRules(),
                      {"paired": n_samples, "only_in_a": [], "only_in_b": []})
