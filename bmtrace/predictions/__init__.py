"""Predictions in recorded outputs: recognise detections and classifications, compare them in task terms.

- ``recognize(outputs, meta)`` / ``recognize_call(call)``: Detections, Classification or None.
- ``compare_calls(call_a, call_b)``: both steps for two reader Calls (None when not predictions).
- ``compare_predictions(a, b)``: a DetectionComparison or ClassificationComparison for one sample, with
  ``to_json()``, ``summary()``, ``verdict()``; ``merge_comparisons(list)`` sums them over samples.
- ``coco_map(pairs)``: whole-run agreement, COCO mAP@[.5:.95] of B scored against A as ground truth.
- ``encode_predictions(value)``: compact columns for prediction lists (used by the recording codecs).

numpy only.
"""
from .classification import ClassificationComparison, compare_classification
from .coco_map import coco_map  # the function: bmtrace.predictions.coco_map(pairs) (the module stays importable by path)
from .detections import DetectionComparison, compare_detections
from .encode import decode_predictions, encode_predictions
from .recognize import PredictionFormatError, recognize, recognize_call, recognize_value
from .values import Classification, Detections


def compare_predictions(a, b, iou=None):
    """Compare one sample's recognised predictions; ``iou`` is the detection match threshold (default 0.5).

    Raises PredictionFormatError when the two sides hold different kinds of predictions.
    """
    if a.kind != b.kind:
        raise PredictionFormatError("A's output holds %s (%s) but B's holds %s (%s); declare meta kind on both "
                                    "stages if one was misread" % (a.kind, a.how, b.kind, b.how))
    if a.kind == "detections":
        return compare_detections(a, b) if iou is None else compare_detections(a, b, iou=iou)
    return compare_classification(a, b)


def compare_calls(call_a, call_b, iou=None):
    """Recognise and compare two reader Calls (the same stage and sample of runs A and B).

    Returns a DetectionComparison / ClassificationComparison, or None when either side's outputs are
    not predictions. Raises PredictionFormatError (declared kind unreadable, or the two sides hold
    different kinds) and bmtrace.errors.PayloadMissingError (a call recorded in stats mode).
    """
    a, b = recognize_call(call_a), recognize_call(call_b)
    if a is None or b is None:
        return None
    return compare_predictions(a, b, iou=iou)


def merge_comparisons(comparisons):
    """One comparison summing per-sample comparisons of the same kind; None for an empty list."""
    comparisons = list(comparisons)
    if not comparisons:
        return None
    return type(comparisons[0]).merge(comparisons)


__all__ = ["Classification", "ClassificationComparison", "DetectionComparison", "Detections",
           "PredictionFormatError", "coco_map", "compare_calls", "compare_classification", "compare_detections", "compare_predictions",
           "decode_predictions", "encode_predictions", "merge_comparisons", "recognize", "recognize_call",
           "recognize_value"]
