"""Compare two recorded runs of this example in task terms: boxes matched, moved, missing, extra.

For every stage whose outputs are predictions (declared with meta={"kind": "detections"} or recognised
from their shape), pairs the calls by sample, compares the predictions and prints one line per stage,
then the COCO mAP@[.5:.95] of B's final records scored against A's.

Usage: python compare.py RUN_A RUN_B [--iou 0.5] [--per-sample]
"""
import argparse

import bmtrace
from bmtrace.predictions import compare_predictions, merge_comparisons, recognize_call
from bmtrace.predictions.coco_map import coco_map


def compare_runs(run_a, run_b, iou=0.5, per_sample=False):
    """Print one verdict line per prediction stage; return {stage: merged comparison}."""
    results = {}
    for stage in run_a.stages():
        comparisons, pairs = [], []
        for call_a in run_a.calls(stage=stage):
            calls_b = run_b.calls(sample=call_a.sample, stage=stage)
            if len(calls_b) != 1:
                continue
            a, b = recognize_call(call_a), recognize_call(calls_b[0])
            if a is None or b is None:
                continue
            result = compare_predictions(a, b)
            comparisons.append(result)
            if a.kind == "detections":
                pairs.append((call_a.sample, a, b))
            if per_sample:
                print("    %-12s %-14s %s" % (stage, call_a.sample, result.summary()))
        if not comparisons:
            continue
        total = results[stage] = merge_comparisons(comparisons)
        verdict = total.verdict(iou=iou) if total.to_json()["kind"] == "detections" else total.verdict()
        print("%-10s %-9s %s" % (stage, "agrees" if verdict.agrees else "DIFFERS", total.summary()))
        last_pairs = pairs
    if results and last_pairs:
        print("whole run: " + coco_map(last_pairs).summary())
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU every matched box must reach to agree")
    parser.add_argument("--per-sample", action="store_true", help="one line per sample as well")
    args = parser.parse_args(argv)
    compare_runs(bmtrace.open_run(args.run_a), bmtrace.open_run(args.run_b), args.iou, args.per_sample)


if __name__ == "__main__":
    main()
