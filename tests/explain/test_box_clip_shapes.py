"""box_clip finds the image size from a shape passed as a tuple (recorded as scalar inputs)."""
import numpy as np

from bmtrace.explain import Evidence, explain


def _boxes(hi_x, hi_y):
    boxes = np.array([[10, 20, 60, 90, 0.9, 1], [300, 400, 400, 520, 0.8, 0], [5, 5, 380, 499.5, 0.7, 2]],
                     np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, hi_x)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, hi_y)
    return boxes


def test_clip_to_w_minus_one_is_named_from_scalar_shape_inputs():
    """A clips to (w, h) = (375, 500), B to (374, 499); the shape comes as img0_shape[0], img0_shape[1]."""
    inputs = {"img1_shape[0]": np.int64(320), "img1_shape[1]": np.int64(320),
              "img0_shape[0]": np.int64(500), "img0_shape[1]": np.int64(375)}
    ev = Evidence(stage="rescale", tensor="out", a=_boxes(375, 500), b=_boxes(374, 499), inputs_a=inputs,
                  inputs_b={})
    hints = explain(ev)
    assert [h.cause for h in hints][:1] == ["box_clip"]
    assert "374 (w-1)" in hints[0].message


def test_boxes_that_agree_get_no_box_clip():
    """Identical boxes with the same shape inputs: nothing to explain."""
    inputs = {"img0_shape[0]": np.int64(500), "img0_shape[1]": np.int64(375)}
    assert explain(Evidence(stage="rescale", tensor="out", a=_boxes(375, 500), b=_boxes(375, 500),
                            inputs_a=inputs)) == []
