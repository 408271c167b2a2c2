"""Recognition of predictions in recorded outputs, declared or guessed, and where it must not fire."""
import numpy as np
import pytest

from bmtrace.codecs import flatten
from bmtrace.predictions import Classification, Detections, PredictionFormatError, recognize, recognize_value
from bmtrace.predictions.encode import decode_predictions, encode_predictions

from .candidates import candidates, torchvision_nms


def _recorded(value, name="out"):
    """The call outputs the way a reader hands them over: leaf name -> array or plain value."""
    out = {}
    for leaf in flatten(value, name):
        out[leaf.name] = leaf.value if leaf.kind == "scalar" or leaf.array is None else leaf.array
    return out


def _coco(dets, image_id=7):
    return [{"image_id": image_id, "category_id": int(c), "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
             "score": float(s)} for x1, y1, x2, y2, s, c in dets.tolist()]


@pytest.fixture(scope="module")
def nms_rows():
    """Real torchvision batched_nms output on seeded candidates: (k, 6) xyxy, score, class."""
    pytest.importorskip("torchvision")
    return torchvision_nms(*candidates())


def test_n6_array_is_xyxy_score_class(nms_rows):
    """An undeclared (n, 6) NMS array is read as xyxy, score, class and says it guessed."""
    det = recognize(_recorded(nms_rows))
    assert isinstance(det, Detections) and len(det) == len(nms_rows)
    np.testing.assert_allclose(det.boxes, nms_rows[:, :4])
    np.testing.assert_array_equal(det.classes, nms_rows[:, 5].astype(int))
    assert "x1, y1, x2, y2, score, class" in det.how and "guessed" in det.how


def test_n6_array_with_class_before_score(nms_rows):
    """When column 4 is integral and column 5 a probability, the class comes first."""
    swapped = nms_rows[:, [0, 1, 2, 3, 5, 4]]
    det = recognize_value(swapped)
    np.testing.assert_allclose(det.scores, nms_rows[:, 4].astype(np.float64))
    assert "class, score" in det.how


def test_n7_batch_index_first_groups_by_batch(nms_rows):
    """A (n, 7) batched-NMS export: column 0 is the batch index and becomes the group key."""
    batch = np.arange(len(nms_rows)) % 2
    rows = np.concatenate([batch[:, None], nms_rows[:, :4], nms_rows[:, 5:6], nms_rows[:, 4:5]], axis=1)
    det = recognize_value(rows)
    assert det.group_key == "batch index" and det.how.startswith("(%d,7) array: batch, x1" % len(rows))
    np.testing.assert_array_equal(det.groups, batch)
    np.testing.assert_allclose(det.scores, nms_rows[:, 4].astype(np.float64))


def test_n5_and_n4_arrays(nms_rows):
    """(n, 5) is boxes + score, (n, 4) boxes only."""
    five, four = recognize_value(nms_rows[:, :5]), recognize_value(nms_rows[:, :4])
    assert five.scores is not None and five.classes is None
    assert four.scores is None and len(four) == len(nms_rows)


def test_coco_list_is_xywh_with_image_id(nms_rows):
    """A list of COCO dicts reads bbox as xywh (the COCO convention) and joins by image_id."""
    det = recognize(_recorded(_coco(nms_rows)))
    np.testing.assert_allclose(det.boxes, nms_rows[:, :4], atol=1e-4)
    assert det.group_key == "image_id" and "xywh" in det.how


def test_declared_format_wins_over_coco_convention(nms_rows):
    """meta box_format=xyxy makes a COCO-style bbox be read as corners."""
    records = [dict(r, bbox=list(map(float, b))) for r, b in zip(_coco(nms_rows), nms_rows[:, :4])]
    det = recognize(_recorded(records), {"box_format": "xyxy"})
    np.testing.assert_allclose(det.boxes, nms_rows[:, :4], atol=1e-4)


def test_declared_xywh_array(nms_rows):
    """A declared xywh (n, 6) array is converted to corners even though it would pass as xyxy."""
    xywh = nms_rows.copy()
    xywh[:, 2:4] -= xywh[:, :2]
    det = recognize_value(xywh, {"kind": "detections", "box_format": "xywh"})
    np.testing.assert_allclose(det.boxes, nms_rows[:, :4], atol=1e-4)


def test_torchvision_dict_and_per_image_list(nms_rows):
    """torchvision detection dicts, alone or as a per-image list, give boxes/scores/labels."""
    import torch

    one = {"boxes": torch.from_numpy(nms_rows[:, :4]), "scores": torch.from_numpy(nms_rows[:, 4]),
           "labels": torch.from_numpy(nms_rows[:, 5].astype(np.int64))}
    det = recognize(_recorded(one))
    assert len(det) == len(nms_rows) and det.classes.dtype == np.int64
    leaves = flatten([one, one], "out")  # recorded as columns: the meta says how to read them
    many = recognize({leaf.name: leaf.array for leaf in leaves}, leaves[0].meta)
    assert len(many) == 2 * len(nms_rows) and many.group_key == "image_index"
    assert many.groups.tolist() == [0] * len(nms_rows) + [1] * len(nms_rows)


def test_compact_encoding_round_trips_and_is_recognised(nms_rows):
    """encode_predictions turns 600+ COCO dicts into four columns; decode rebuilds the list; recognition reads it."""
    records = _coco(np.concatenate([nms_rows] * 20))
    columns, meta = encode_predictions(records)
    assert sorted(columns) == ["bbox", "category_id", "image_id", "score"] and columns["bbox"].shape[1] == 4
    assert decode_predictions(columns, meta) == records
    leaves = {"out[%r]" % key: value for key, value in columns.items()}
    det = recognize(leaves, meta)
    assert len(det) == len(records) and det.group_key == "image_id"
    np.testing.assert_allclose(det.boxes[:len(nms_rows)], nms_rows[:, :4], atol=1e-4)


def test_encode_declines_other_lists():
    """Lists that are not prediction records are left to the ordinary flattening."""
    assert encode_predictions([1, 2, 3]) is None
    assert encode_predictions([{"bbox": [1, 2, 3, 4]}, {"bbox": [1, 2, 3, 4], "score": 0.5}]) is None
    assert encode_predictions([{"name": "a"}]) is None


def test_classification_logits_get_softmax():
    """(1, C) logits are recognised, softmaxed, and the result says so."""
    logits = np.random.default_rng(0).normal(size=(1, 1000)).astype(np.float32)
    cls = recognize(_recorded(logits))
    assert isinstance(cls, Classification) and cls.softmax_applied and "softmax applied" in cls.how
    assert cls.label == int(np.argmax(logits)) and abs(cls.probs.sum() - 1) < 1e-9


def test_classification_top1_dict_and_pair():
    """{"res": int, "score": float} and (class, score) results are top-1 classifications."""
    as_dict = recognize(_recorded({"res": 751, "score": 0.25}))
    as_pair = recognize(_recorded((np.int64(3), np.float32(0.5))))
    assert (as_dict.label, as_dict.score, as_pair.label) == (751, 0.25, 3)


@pytest.mark.parametrize("value", [
    np.zeros((1, 3, 224, 224), np.float32),                       # a normalised image tensor
    np.random.default_rng(1).random((1, 512, 7, 7)).astype(np.float32),  # a feature map
    np.zeros((480, 640, 3), np.uint8),                            # a decoded image
    np.array([[0.1, 0.2, 0.7]], np.float32),                      # a 1x3 vector
    np.array([0.45, 0.45, 0.45]),                                 # per-channel means
    np.random.default_rng(2).normal(size=(3, 4)),                 # an affine-like matrix with negatives
])
def test_ordinary_tensors_are_not_predictions(value):
    """Image tensors, feature maps and short vectors are not recognised as predictions."""
    assert recognize(_recorded(value)) is None


def test_declared_kind_that_does_not_fit_raises():
    """Declaring kind=detections on an image says what was found and what is expected."""
    with pytest.raises(PredictionFormatError, match="declared kind='detections'"):
        recognize(_recorded(np.zeros((2, 3, 8, 8))), {"kind": "detections"})


def test_declared_empty_detections():
    """An empty (0, 6) output declared as detections is zero boxes, not an error."""
    det = recognize(_recorded(np.zeros((0, 6), np.float32)), {"kind": "detections"})
    assert len(det) == 0


def test_encoding_keeps_ints_mixed_among_floats():
    """A bbox holding an int left by max(0, x) among floats round-trips with each number's type."""
    records = [{"image_id": 1, "category_id": 2, "bbox": [0, 5.5, 10.25, 20.0], "score": 0.5},
               {"image_id": 1, "category_id": 2, "bbox": [3.5, 0, 10.0, 20.0], "score": 1}]
    columns, meta = encode_predictions(records)
    decoded = decode_predictions(columns, meta)
    assert decoded == records
    assert [type(v) for v in decoded[0]["bbox"]] == [int, float, float, float] and type(decoded[1]["score"]) is int
    assert len(recognize({"out[%r]" % k: v for k, v in columns.items()}, meta)) == 2
