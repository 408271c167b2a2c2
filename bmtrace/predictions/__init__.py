"""Predictions in recorded outputs: recognise detections and classifications, compare them in task terms.

- ``recognize(outputs, meta)`` / ``recognize_call(call)``: Detections, Classification or None.
- ``compare_detections(a, b)`` / ``compare_classification(a, b)``: per-sample comparisons with
  ``to_json()``, ``merge()``, ``summary()`` and ``verdict()``.
- ``coco_map(pairs)``: whole-run agreement, COCO mAP@[.5:.95] of B scored against A as ground truth.
- ``encode_predictions(value)``: compact columns for prediction lists (used by the recording codecs).

numpy only.
"""
from .recognize import PredictionFormatError, recognize, recognize_call, recognize_value
from .values import Classification, Detections

__all__ = ["Classification", "Detections", "PredictionFormatError", "recognize", "recognize_call",
           "recognize_value"]
