"""The port of original.py, written the way vendor OpenCV/numpy ports usually are.

cv2.imread -> its own letterbox (same maths as ultralytics, written again) -> numpy BGR to RGB and
/255 -> the exported ONNX model through ONNX Runtime (standing in for the device runtime) -> numpy
decode and cv2.dnn.NMSBoxesBatched -> rescale to the image with its own clip -> COCO JSON list.

Two post-processing habits of vendor code, planted on purpose:
  * rescale clips boxes to (width - 1, height - 1), pixel-index style; the original clips to
    (width, height). Boxes cut by the right or bottom border end 1 px short.
  * --conf sets the confidence threshold (default 0.25, the original's). Vendor demos often ship
    another default (0.001 for evaluation, 0.5 for display); --conf 0.1 shows what that does.

Usage:
    python export_model.py                         # build/yolo_tiny.onnx from original.py's weights
    python ported.py [IMAGE ...] [--conf C] [--json FILE]
    bmtrace record --out runs/ported --side ported -- python ported.py
"""
import argparse
import functools
import glob
import json
import os

import cv2
import numpy as np

import bmtrace

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.join(HERE, "images")
ONNX_PATH = os.path.join(HERE, "build", "yolo_tiny.onnx")
INPUT_SIZE = 320
IOU_THRESHOLD = 0.45
MAX_WH = 7680  # class offset for one-call NMS


class Config(object):
    conf_threshold = 0.25


@bmtrace.trace_stage("read", meta={"color": "BGR", "layout": "HWC"})
def read(path):
    img = cv2.imread(path)
    if img is None:
        raise FileNotFoundError("cannot read image %s" % path)
    return img


@bmtrace.trace_stage("letterbox", meta={"out": {"color": "BGR", "layout": "HWC"}})
def letterbox(img, size=INPUT_SIZE):
    """Scale the long side to ``size``, pad the rest with grey 114; returns (image, ratio, (left, top))."""
    h, w = img.shape[:2]
    ratio = min(size / h, size / w)
    new_w, new_h = int(round(w * ratio)), int(round(h * ratio))
    if (new_w, new_h) != (w, h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return img, ratio, (left, top)


@bmtrace.trace_stage("normalize", meta={"out": {"color": "RGB", "layout": "NCHW"}})
def preprocess(img):
    """BGR HWC uint8 -> RGB NCHW float32 in [0, 1]."""
    blob = img[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0
    return np.ascontiguousarray(blob[None])


@bmtrace.trace_stage("infer")
def infer(blob):
    session = get_session()
    return session.run(None, {session.get_inputs()[0].name: blob})[0]


@bmtrace.trace_stage("nms", meta={"kind": "detections", "box_format": "xyxy"})
def postprocess(output):
    """Decode and NMS: (n, 6) float32 array of x1, y1, x2, y2, score, class_id."""
    pred = output[0]
    pred = pred[pred[:, 4] > Config.conf_threshold]
    scores_all = pred[:, 5:] * pred[:, 4:5]
    class_ids = np.argmax(scores_all, axis=1)
    scores = scores_all[np.arange(len(pred)), class_ids]
    keep = scores > Config.conf_threshold
    pred, scores, class_ids = pred[keep], scores[keep], class_ids[keep]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes_xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    idx = cv2.dnn.NMSBoxesBatched(boxes_xywh.tolist(), scores.tolist(), class_ids.tolist(),
                                  Config.conf_threshold, IOU_THRESHOLD)
    idx = np.array(idx, dtype=np.int64).reshape(-1)
    x1, y1 = boxes_xywh[idx, 0], boxes_xywh[idx, 1]
    dets = np.stack([x1, y1, x1 + boxes_xywh[idx, 2], y1 + boxes_xywh[idx, 3], scores[idx],
                     class_ids[idx].astype(np.float32)], axis=1)
    return dets.astype(np.float32)


@bmtrace.trace_stage("rescale", meta={"kind": "detections", "box_format": "xyxy"})
def rescale(dets, ratio, pad, img_shape):
    """Map boxes from the letterboxed input back to the image, clipped to valid pixel indices."""
    dets = dets.copy()
    left, top = pad
    dets[:, [0, 2]] = (dets[:, [0, 2]] - left) / ratio
    dets[:, [1, 3]] = (dets[:, [1, 3]] - top) / ratio
    h, w = img_shape[:2]
    dets[:, [0, 2]] = np.clip(dets[:, [0, 2]], 0, w - 1)
    dets[:, [1, 3]] = np.clip(dets[:, [1, 3]], 0, h - 1)
    return dets


@bmtrace.trace_stage("coco_json", meta={"kind": "detections"})
def to_coco(dets, image_name):
    image_id = os.path.splitext(image_name)[0]
    results = []
    for x1, y1, x2, y2, score, class_id in dets.tolist():
        results.append({"image_id": int(image_id) if image_id.isdigit() else image_id,
                        "category_id": int(class_id),
                        "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                        "score": round(score, 5)})
    return results


def run_image(path):
    name = os.path.basename(path)
    with bmtrace.sample(name):
        img = read(path)
        blob_img, ratio, pad = letterbox(img)
        output = infer(preprocess(blob_img))
        dets = postprocess(output)
        dets = rescale(dets, ratio, pad, img.shape)
        return to_coco(dets, name)


@functools.lru_cache(maxsize=None)
def get_session():
    import onnxruntime as ort

    if not os.path.exists(ONNX_PATH):
        raise SystemExit("no %s: run `python export_model.py` first" % ONNX_PATH)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(ONNX_PATH, options, providers=["CPUExecutionProvider"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image files (default: images/*.jpg)")
    parser.add_argument("--conf", type=float, default=Config.conf_threshold, help="confidence threshold")
    parser.add_argument("--json", help="write all COCO records to this file")
    args = parser.parse_args(argv)
    Config.conf_threshold = args.conf
    import onnxruntime

    print("runtime: onnxruntime %s, %s, conf %g" % (onnxruntime.__version__, os.path.relpath(ONNX_PATH, HERE),
                                                    Config.conf_threshold))
    records = []
    for path in args.images or sorted(glob.glob(os.path.join(IMAGE_DIR, "*.jpg"))):
        found = run_image(path)
        records += found
        print("%s: %d boxes" % (os.path.basename(path), len(found)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f)


if __name__ == "__main__":
    main()
