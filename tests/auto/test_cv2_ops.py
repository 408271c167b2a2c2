"""OpenCV calls recorded as stages named by kind, with the op and its parameters."""
import cv2
import numpy as np

from .conftest import basename, only, ops


def test_pipeline_records_one_stage_per_call_named_by_kind(record, images):
    """imread, cvtColor, resize, copyMakeBorder record as decode, color, resize, pad in order."""
    def program():
        img = cv2.imread(images[0])
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        img = cv2.resize(img, (20, 10), interpolation=cv2.INTER_AREA)
        cv2.copyMakeBorder(img, 1, 2, 3, 4, cv2.BORDER_CONSTANT, value=(114, 114, 114))

    run = record(program)
    assert ops(run) == [("decode", "cv2.imread"), ("color", "cv2.cvtColor"), ("resize", "cv2.resize"),
                        ("pad", "cv2.copyMakeBorder")]


def test_resize_records_interpolation_by_name_and_its_data(record, images):
    """cv2.resize keeps dsize and INTER_AREA as a name; input img and output out hold the pixels."""
    src = cv2.imread(images[0])
    result = []
    run = record(lambda: result.append(cv2.resize(src, (20, 10), interpolation=cv2.INTER_AREA)))
    call = only(run, "resize")
    assert call.function["params"]["interpolation"] == "INTER_AREA"
    assert call.function["params"]["dsize"] == [20, 10]
    np.testing.assert_array_equal(call.input("img").load(), src)
    np.testing.assert_array_equal(call.output().load(), result[0])


def test_resize_without_interpolation_records_the_default(record, images):
    """An omitted interpolation is recorded as OpenCV's default, INTER_LINEAR."""
    src = cv2.imread(images[0])
    run = record(lambda: cv2.resize(src, (20, 10)))
    assert only(run, "resize").function["params"]["interpolation"] == "INTER_LINEAR"


def test_color_records_the_conversion_code_name(record, images):
    """cvtColor records the COLOR_ code by name (aliases with the same value joined)."""
    src = cv2.imread(images[0])
    run = record(lambda: cv2.cvtColor(src, cv2.COLOR_BGR2GRAY))
    assert "COLOR_BGR2GRAY" in only(run, "color").function["params"]["code"].split("|")


def test_decode_names_the_sample_and_records_the_implementation(record, images):
    """imread starts a sample named by the file's base name; the record says which OpenCV build ran."""
    run = record(lambda: [cv2.imread(p) for p in images])
    assert run.samples() == [basename(p) for p in images]
    library = run.calls(stage="decode")[0].function["library"]
    assert library["library"] == "cv2" and library["version"] == cv2.__version__
    assert library["build"] in ("Sophon OpenCV", "upstream OpenCV")


def test_nms_records_boxes_scores_and_thresholds(record):
    """cv2.dnn.NMSBoxes records boxes and scores as inputs, thresholds and box format as params."""
    boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 5, 5]]
    scores = [0.9, 0.8, 0.7]
    kept = []
    run = record(lambda: kept.append(cv2.dnn.NMSBoxes(boxes, scores, 0.5, 0.4)))
    call = only(run, "nms")
    assert call.function["params"]["iou_threshold"] == 0.4 and call.function["params"]["box_format"] == "xywh"
    np.testing.assert_array_equal(np.asarray(call.output().load()).ravel(), np.asarray(kept[0]).ravel())


def test_imdecode_counts_samples_when_there_is_no_file_name(record, images):
    """imdecode of in-memory buffers gives samples decode0, decode1 in call order."""
    buffers = [np.fromfile(p, np.uint8) for p in images]
    run = record(lambda: [cv2.imdecode(b, cv2.IMREAD_COLOR) for b in buffers])
    assert run.samples() == ["decode0", "decode1"]


def test_video_frames_are_counted_as_samples(record, tmp_path):
    """VideoCapture.read records decode stages in samples frame0, frame1, ..."""
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 24))
    for i in range(3):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()

    def program():
        capture = cv2.VideoCapture(path)
        while capture.read()[0]:
            pass
        capture.release()

    run = record(program)
    assert run.samples()[:3] == ["frame0", "frame1", "frame2"]
    assert run.calls(sample="frame0", stage="decode")[0].output().load().shape == (24, 32, 3)


def test_read_past_the_end_of_a_video_records_nothing(record, tmp_path):
    """The failing read at the end of a video leaves no decode record behind."""
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 24))
    writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()

    def program():
        capture = cv2.VideoCapture(path)
        while capture.read()[0]:
            pass

    run = record(program)
    assert [c.sample for c in run.calls(stage="decode")] == ["frame0"]


def test_decoded_images_carry_their_colour_order_and_layout(record, images):
    """imread's output is marked BGR/HWC (GRAY with IMREAD_GRAYSCALE), so diff can explain channel swaps."""
    run = record(lambda: [cv2.imread(images[0]), cv2.imread(images[1], cv2.IMREAD_GRAYSCALE)])
    first, second = run.calls(stage="decode")
    assert (first.output().meta["color"], first.output().meta["layout"]) == ("BGR", "HWC")
    assert second.output().meta["color"] == "GRAY"
