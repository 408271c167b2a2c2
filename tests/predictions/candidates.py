"""Seeded candidate boxes and the real NMS outputs of torchvision and OpenCV on them."""
import numpy as np


def candidates(seed=0, n=300, classes=3, size=640):
    """(boxes xyxy float32 (n, 4), scores (n,), classes (n,)): clusters of overlapping boxes."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(60, size - 60, (n // 10, 2))
    pick = rng.integers(0, len(centres), n)
    wh = rng.uniform(20, 120, (n // 10, 2))[pick] * rng.uniform(0.85, 1.15, (n, 2))
    c = centres[pick] + rng.normal(0, 6, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1).clip(0, size).astype(np.float32)
    scores = rng.uniform(0.05, 1.0, n).astype(np.float32)
    return boxes, scores, rng.integers(0, classes, n)


def torchvision_nms(boxes, scores, classes, iou=0.45, conf=0.25):
    """torchvision.ops.batched_nms kept rows as an ultralytics-style (k, 6) array xyxy, score, class."""
    import torch
    from torchvision.ops import batched_nms

    keep_conf = scores >= conf
    b, s, c = (torch.from_numpy(np.ascontiguousarray(x[keep_conf])) for x in (boxes, scores, classes))
    keep = batched_nms(b, s, c, iou).numpy()
    return np.concatenate([boxes[keep_conf][keep], scores[keep_conf][keep, None],
                           classes[keep_conf][keep, None].astype(np.float32)], axis=1)


def cv2_nms(boxes, scores, classes, iou=0.45, conf=0.25):
    """cv2.dnn.NMSBoxesBatched on (x, y, w, h) boxes, the same rows as a (k, 6) xyxy, score, class array."""
    import cv2

    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), conf, iou),
                      dtype=np.int64).reshape(-1)
    return np.concatenate([boxes[keep], scores[keep, None], classes[keep, None].astype(np.float32)], axis=1)
