"""A small YOLO-style detector written the ultralytics way: the reference side of the example.

cv2.imread -> letterbox (auto=False, fixed 320x320, pad 114, the `round(dh - 0.1)` split) -> BGR to
RGB, HWC to CHW, /255 -> a seeded tiny convolutional model whose Detect head decodes boxes in the
graph (YOLOv5 style: xy = (2 sigmoid - 0.5 + grid) * stride, wh = (2 sigmoid)^2 * anchor) ->
non_max_suppression (conf 0.25, IoU 0.45, torchvision.ops.batched_nms) -> scale_boxes back to the
image, clipped to its width/height -> a COCO JSON list with image_id.

The weights are random (seeded) and calibrated so that a few percent of the predictions pass the
confidence threshold: the "detections" are arbitrary, but deterministic and image-dependent.

Usage:
    python original.py [IMAGE ...] [--json FILE]
    bmtrace record --out runs/original --side original -- python original.py
"""
import argparse
import functools
import glob
import json
import os

import cv2
import numpy as np
import torch
import torchvision

import bmtrace

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.join(HERE, "images")
SEED = 0
IMG_SIZE = 320
NUM_CLASSES = 3
STRIDE = 16
ANCHORS = ((30, 61), (62, 45), (59, 119))  # YOLOv5's P4 anchors, in pixels
CONF_THRES, IOU_THRES, MAX_DET = 0.25, 0.45, 300
CALIBRATION_PASS_RATE = 0.2  # share of predictions whose confidence passes CONF_THRES on calibration input


# -- stages ------------------------------------------------------------------------------------------
@bmtrace.trace_stage("read", meta={"color": "BGR", "layout": "HWC"})
def read(path):
    im = cv2.imread(path)
    assert im is not None, "Image Not Found " + path
    return im


@bmtrace.trace_stage("letterbox", meta={"out": {"color": "BGR", "layout": "HWC"}})
def letterbox(im, new_shape=(IMG_SIZE, IMG_SIZE), color=(114, 114, 114), auto=False, scaleup=True, stride=32):
    """Resize and pad to new_shape keeping the aspect ratio; returns (image, ratio, (dw, dh))."""
    shape = im.shape[:2]  # current shape [height, width]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    ratio = r, r
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:  # minimum rectangle
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    dw /= 2  # divide padding into 2 sides
    dh /= 2
    if shape[::-1] != new_unpad:
        im = cv2.resize(im, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return im, ratio, (dw, dh)


@bmtrace.trace_stage("normalize", meta={"out": {"color": "RGB", "layout": "NCHW"}})
def preprocess(im):
    """HWC BGR uint8 -> 1x3xHxW RGB float32 in [0, 1]."""
    im = im.transpose((2, 0, 1))[::-1]  # HWC to CHW, BGR to RGB
    im = np.ascontiguousarray(im)
    im = torch.from_numpy(im).float()
    im /= 255
    return im[None]


@bmtrace.trace_stage("infer")
def infer(x):
    """The model on a 1x3xSxS batch (a torch tensor or a numpy array): (1, N, 5 + classes) predictions."""
    with torch.no_grad():
        return load_model()(torch.as_tensor(x))


@bmtrace.trace_stage("nms", meta={"kind": "detections", "box_format": "xyxy"})
def non_max_suppression(prediction, conf_thres=CONF_THRES, iou_thres=IOU_THRES, max_det=MAX_DET):
    """Per-class NMS of one image's predictions: (n, 6) tensor of x1, y1, x2, y2, conf, class."""
    prediction = torch.as_tensor(prediction)
    x = prediction[0]
    x = x[x[:, 4] > conf_thres]  # objectness candidates
    x = x.clone()
    x[:, 5:] *= x[:, 4:5]  # conf = obj_conf * cls_conf
    box = xywh2xyxy(x[:, :4])
    conf, j = x[:, 5:].max(1, keepdim=True)
    x = torch.cat((box, conf, j.float()), 1)[conf.view(-1) > conf_thres]
    x = x[x[:, 4].argsort(descending=True)]
    i = torchvision.ops.batched_nms(x[:, :4], x[:, 4], x[:, 5], iou_thres)
    return x[i[:max_det]]


@bmtrace.trace_stage("rescale", meta={"kind": "detections", "box_format": "xyxy"})
def scale_boxes(img1_shape, det, img0_shape):
    """Boxes from letterboxed img1_shape back to the original img0_shape, clipped to the image."""
    det = det.clone()
    gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
    pad = round((img1_shape[1] - img0_shape[1] * gain) / 2 - 0.1), round((img1_shape[0] - img0_shape[0] * gain) / 2 - 0.1)
    det[:, [0, 2]] -= pad[0]
    det[:, [1, 3]] -= pad[1]
    det[:, :4] /= gain
    det[:, [0, 2]] = det[:, [0, 2]].clamp(0, img0_shape[1])  # x1, x2
    det[:, [1, 3]] = det[:, [1, 3]].clamp(0, img0_shape[0])  # y1, y2
    return det


@bmtrace.trace_stage("coco_json", meta={"kind": "detections"})
def to_coco_json(det, path):
    """COCO result records (bbox as top-left x, y, width, height) for one image."""
    stem = os.path.splitext(os.path.basename(path))[0]
    image_id = int(stem) if stem.isnumeric() else stem
    box = xyxy2xywh(det[:, :4])
    box[:, :2] -= box[:, 2:] / 2  # xy center to top-left corner
    return [{"image_id": image_id, "category_id": int(p[5]), "bbox": [round(x, 3) for x in b],
             "score": round(p[4], 5)} for p, b in zip(det.tolist(), box.tolist())]


def detect(path):
    """The whole pipeline for one image file, recorded as one bmtrace sample."""
    with bmtrace.sample(os.path.basename(path)):
        im0 = read(path)
        im, _, _ = letterbox(im0)
        pred = infer(preprocess(im))
        det = non_max_suppression(pred)
        det = scale_boxes(im.shape[:2], det, im0.shape)
        return to_coco_json(det, path)


# -- helpers -----------------------------------------------------------------------------------------
def xywh2xyxy(x):
    y = x.clone()
    y[:, 0] = x[:, 0] - x[:, 2] / 2
    y[:, 1] = x[:, 1] - x[:, 3] / 2
    y[:, 2] = x[:, 0] + x[:, 2] / 2
    y[:, 3] = x[:, 1] + x[:, 3] / 2
    return y


def xyxy2xywh(x):
    y = x.clone()
    y[:, 0] = (x[:, 0] + x[:, 2]) / 2
    y[:, 1] = (x[:, 1] + x[:, 3]) / 2
    y[:, 2] = x[:, 2] - x[:, 0]
    y[:, 3] = x[:, 3] - x[:, 1]
    return y


class Detect(torch.nn.Module):
    """YOLOv5's Detect head for one level, decoding in the graph as in an export."""

    def __init__(self, channels, num_classes, anchors, stride):
        super().__init__()
        self.no, self.na, self.stride = num_classes + 5, len(anchors), stride
        self.conv = torch.nn.Conv2d(channels, self.na * self.no, 1)
        self.register_buffer("anchor_grid", torch.tensor(anchors, dtype=torch.float32).view(1, self.na, 1, 1, 2))

    def forward(self, x):
        bs, _, ny, nx = x.shape
        x = self.conv(x).view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2)
        yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32),
                                indexing="ij")
        grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2)
        xy, wh, conf = x.sigmoid().split((2, 2, self.no - 4), 4)
        xy = (xy * 2 - 0.5 + grid) * self.stride
        wh = (wh * 2) ** 2 * self.anchor_grid
        return torch.cat((xy, wh, conf), 4).view(bs, self.na * ny * nx, self.no)


class TinyYolo(torch.nn.Module):
    """Four stride-2 convolutions (SiLU) down to a 1/16 grid, then the Detect head."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        layers, channels = [], 3
        for width in (16, 32, 48, 64):
            layers += [torch.nn.Conv2d(channels, width, 3, 2, 1), torch.nn.SiLU()]
            channels = width
        self.backbone = torch.nn.Sequential(*layers)
        self.detect = Detect(channels, num_classes, ANCHORS, STRIDE)

    def forward(self, x):
        return self.detect(self.backbone(x))


@functools.lru_cache(maxsize=None)
def load_model():
    return build_model(SEED).eval()


def build_model(seed):
    """TinyYolo with seeded weights and a calibrated head.

    Random weights give objectness and class logits with a tiny spread, so confidences sit at one value
    and either every prediction or none passes the threshold. The head is rescaled so objectness logits
    of each anchor spread with std 3 over seeded calibration input, and the objectness bias is set so that about
    CALIBRATION_PASS_RATE of the predictions pass CONF_THRES there.
    """
    torch.manual_seed(seed)
    model = TinyYolo()
    generator = torch.Generator().manual_seed(seed + 1)
    coarse = torch.rand(4, 3, 10, 10, generator=generator)
    calibration = torch.nn.functional.interpolate(coarse, size=(IMG_SIZE, IMG_SIZE), mode="nearest")
    head = model.detect
    with torch.no_grad():
        raw = head.conv(model.backbone(calibration)).view(4, head.na, head.no, -1)
        weight = head.conv.weight.view(head.na, head.no, -1)
        bias = head.conv.bias.view(head.na, head.no)
        for a in range(head.na):  # objectness and class logits of each anchor: zero mean, std 3
            for k in range(4, head.no):
                mean, std = raw[:, a, k].mean(), raw[:, a, k].std()
                weight[a, k] *= 3.0 / std
                bias[a, k] = (bias[a, k] - mean) * 3.0 / std
                raw[:, a, k] = (raw[:, a, k] - mean) * 3.0 / std
        best_cls = raw[:, :, 5:].sigmoid().max(2).values
        low, high = -10.0, 10.0
        for _ in range(40):  # bisect the objectness bias for the wanted pass rate
            mid = (low + high) / 2
            rate = (((raw[:, :, 4] + mid).sigmoid() * best_cls) > CONF_THRES).float().mean().item()
            low, high = (low, mid) if rate > CALIBRATION_PASS_RATE else (mid, high)
        bias[:, 4] += (low + high) / 2
        # Letterbox padding (flat grey 114) must not "detect": its predictions all tie in score, and
        # which of equal-score boxes NMS keeps is up to the NMS implementation.
        grey = head.conv(model.backbone(torch.full((1, 3, IMG_SIZE, IMG_SIZE), 114 / 255.0)))
        grey = grey.view(head.na, head.no, -1)
        cls_max = grey[:, 5:].sigmoid().max(1).values
        target = torch.logit((0.5 * CONF_THRES / cls_max).clamp(max=1 - 1e-6))  # obj logit for conf = T/2
        bias[:, 4] += (target - grey[:, 4]).min(1).values.clamp(max=0)
    return model


def image_paths(args_images):
    return list(args_images) or sorted(glob.glob(os.path.join(IMAGE_DIR, "*.jpg")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image files (default: images/*.jpg)")
    parser.add_argument("--json", help="write all COCO records to this file")
    args = parser.parse_args(argv)
    print("runtime: torch %s (TinyYolo, seed %d)" % (torch.__version__, SEED))
    records = []
    for path in image_paths(args.images):
        found = detect(path)
        records += found
        print("%s: %d boxes" % (os.path.basename(path), len(found)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f)


if __name__ == "__main__":
    main()
