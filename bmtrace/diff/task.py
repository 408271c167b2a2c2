"""Task-level verdicts on top of the tensor ladder: stages whose outputs are predictions.

Detections are matched by IoU and classifications by rank (``bmtrace.predictions``); the per-sample
comparison goes into the stage entry, the sum over samples into the stage's summary, and the last
prediction stage gives the run's task effect: "top-1 differs on 2 of 5 samples at postprocess".
A tolerance in task terms (``--tol STAGE.iou=0.9``, ``--tol STAGE.top1=1``, or ``detections.iou`` /
``classification.top1`` for every stage of that kind) judges the stage by its predictions instead of
its raw values.
"""
from __future__ import annotations

import json

from .. import predictions
from ..compare import Status
from ..errors import PayloadMissingError

# Output leaves whose names say "predictions" even when their shapes alone would not.
_PREDICTION_WORDS = ("box", "bbox", "score", "label", "categor", "class", "res", "det", "conf", "prob", "logit")
_DETECTION_COLUMNS = (4, 5, 6, 7)
_MIN_CLASSES = 2
# Per-sample box lists in the JSON stop being useful (and start being large) beyond this many boxes.
_DETAIL_BOXES = 2000


def _without_values(stage, pair):
    """The note for predictions whose values were not kept; no sample in it, so that a long stats-mode
    run gets one note, not one per sample."""
    sides = [side for side, call in (("A", pair.call_a), ("B", pair.call_b)) if getattr(call, "mode", None) == "stats"]
    if sides:
        return ("stage %s: predictions not compared: %s recorded it in stats mode, which keeps only a sample "
                "of the values of an output this large; record it in full mode to compare them "
                "(bmtrace.start(..., stage_modes={%s: \"full\"}))"
                % (stage, "runs A and B" if len(sides) == 2 else "run " + sides[0], json.dumps(stage)))
    return ("stage %s: predictions not compared: the values of its outputs were not kept (the payload cap was "
            "reached); record it again with a larger payload_cap_bytes to compare them" % stage)


def could_hold_predictions(call):
    """Cheap screen on the records alone (no payload loaded): declared kind, box-like shapes, names."""
    for tensor in call.outputs:
        meta = tensor.meta or {}
        if meta.get("kind") in ("detections", "classification"):
            return True
        shape = tensor.shape
        if shape is not None and len(shape) == 2 and (shape[1] in _DETECTION_COLUMNS or
                                                       (shape[0] == 1 and shape[1] >= _MIN_CLASSES)):
            return True
        name = tensor.name.lower()
        if "[" in name and any(word in name for word in _PREDICTION_WORDS):
            return True
    return False


class TaskStep:
    """Compares the predictions of each paired call whose outputs hold them, stage by stage."""

    def __init__(self, rules, notes):
        self.rules = rules
        self.notes = notes
        self.by_stage = {}        # stage -> [per-sample comparison]
        self.pairs = {}           # stage -> [(sample, Detections a, Detections b)] for mAP

    def judge(self, entry, pair):
        """Add the predictions comparison to one paired entry, and apply a task tolerance if one is set."""
        if not entry.paired or pair.call_a is None or pair.call_b is None:
            return
        if not (could_hold_predictions(pair.call_a) and could_hold_predictions(pair.call_b)):
            return
        try:
            found_a = predictions.recognize_call(pair.call_a)
            found_b = predictions.recognize_call(pair.call_b) if found_a is not None else None
            if found_a is None or found_b is None:
                return
            tolerance = self._tolerance(entry.stage, found_a.kind)
            comparison = predictions.compare_predictions(found_a, found_b)
        except PayloadMissingError:
            self.notes.append(_without_values(entry.stage, pair))
            return
        except Exception as exc:  # unreadable predictions: a note, never a failed diff
            self.notes.append("stage %s: predictions not compared (%s: %s)" % (entry.stage, type(exc).__name__, exc))
            return
        small = getattr(comparison, "boxes_a", 0) + getattr(comparison, "boxes_b", 0) <= _DETAIL_BOXES
        entry.extra["predictions"] = comparison.to_json(detail=True) if found_a.kind == "detections" and small \
            else comparison.to_json()
        self.by_stage.setdefault(entry.stage, []).append(comparison)
        if found_a.kind == "detections":
            self.pairs.setdefault(entry.stage, []).append((entry.sample, found_a, found_b))
        if tolerance:
            verdict = comparison.verdict(**{k: v for k, v in tolerance.items()})
            entry.status = Status.ALIGNED if verdict.agrees else Status.DIVERGED
            entry.notes.append("judged by its predictions (task tolerance %s): %s" % (
                ", ".join("%s=%g" % kv for kv in sorted(tolerance.items())), verdict.reason))
        elif found_a.kind == "detections":
            # Box arrays compared row by row mean nothing once counts or order differ: boxes are judged
            # as detections, exact up to the stage's float tolerance.
            atol = self.rules.resolve(entry.stage, "boxes", True).atol
            exact = (comparison.missing == 0 and comparison.extra == 0 and comparison.class_flips == 0 and
                     (comparison.max_coord_diff or 0.0) <= atol and (comparison.max_score_diff or 0.0) <= atol)
            entry.status = Status.ALIGNED if exact else Status.DIVERGED
            entry.notes.append("judged as detections (boxes matched by IoU within class, coordinates and "
                               "scores within %g): %s" % (atol, comparison.summary()))

    def _tolerance(self, stage, kind):
        """Task tolerance for a stage: ``STAGE.iou``/``STAGE.top1`` over ``detections.iou``/``classification.top1``."""
        metric = "iou" if kind == "detections" else "top1"
        found = {}
        for key in ("%s.%s" % (kind, metric), "%s.%s" % (stage, metric)):
            value = self.rules.overrides.get(key, {}).get("atol")
            if value is not None:
                found[metric] = value
        return found

    def summaries(self):
        """``{stage: merged predictions JSON}`` over the samples of each prediction stage."""
        out = {}
        for stage, comparisons in self.by_stage.items():
            merged = predictions.merge_comparisons(comparisons)
            doc = merged.to_json()
            if stage in self.pairs:
                try:
                    doc["map_b_vs_a"] = predictions.coco_map(self.pairs[stage]).to_json()
                except Exception as exc:
                    self.notes.append("stage %s: mAP of B against A not computed (%s: %s)"
                                      % (stage, type(exc).__name__, exc))
            out[stage] = doc
        return out


def task_effect(result):
    """The run's task effect from its last prediction stage (None when no stage held predictions).

    Returns a dict: the merged predictions of that stage plus ``stage``, ``agreement`` (top-1 share, or
    mAP@[.5:.95] of B against A) and a one-line ``message`` naming the first divergence.
    """
    if not result.predictions:
        return None
    order = {name: i for i, name in enumerate(result.stage_order)}
    stage = max(result.predictions, key=lambda s: order.get(s, -1))
    doc = dict(result.predictions[stage], stage=stage)
    if doc.get("kind") == "classification":
        samples = doc.get("samples") or 0
        agree = doc.get("top1_agree") or 0
        doc["agreement"] = {"metric": "top1", "value": agree / float(samples) if samples else None}
        effect = ("top-1 differs on %d of %d samples at %s" % (samples - agree, samples, stage)
                  if agree < samples else "top-1 agrees on all %d samples at %s" % (samples, stage))
    else:
        value = (doc.get("map_b_vs_a") or {}).get("map")
        doc["agreement"] = {"metric": "mAP@[.5:.95] of B against A", "value": value}
        effect = "%s at %s" % (doc.get("summary"), stage)
        if value is not None:
            effect += "; mAP@[.5:.95] of B against A %.3f" % value
    first = result.first_divergence
    if first is not None:
        effect += "; first divergence at %s" % first.stage
    doc["message"] = effect
    return doc
