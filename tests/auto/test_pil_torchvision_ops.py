"""Pillow and torchvision calls: one record per outermost call, with the parameters that matter."""
import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import functional as F

from .conftest import basename, only, ops


def test_pil_open_records_one_decode_at_load(record, images):
    """Image.open + pixel access records one decode (at the real load), named by the file."""
    def program():
        image = Image.open(images[0])
        image.load()
        image.load()  # already loaded: nothing more to decode
        np.asarray(image)

    run = record(program)
    call = only(run, "decode")
    assert call.function["op"] == "PIL.Image.open" and call.sample == basename(images[0])
    assert call.function["params"]["format"] == "PNG"
    np.testing.assert_array_equal(call.output().load(), np.asarray(Image.open(images[0])))


def test_pil_convert_and_resize_record_modes_and_filter(record, images):
    """convert records from/to modes; resize records size, the filter by name and antialias."""
    image = Image.open(images[0])
    image.load()
    run = record(lambda: image.convert("L").resize((10, 8), Image.Resampling.BILINEAR))
    assert only(run, "color").function["params"]["mode"] == "L"
    params = only(run, "resize").function["params"]
    assert params["resample"] == "BILINEAR" and params["size"] == [10, 8] and params["antialias"] is True


def test_transforms_resize_records_once_with_its_settings(record, images):
    """transforms.Resize records one resize (not its F.resize nor PIL's resize) with size, interpolation, antialias."""
    image = Image.open(images[0]).convert("RGB")
    run = record(lambda: transforms.Resize((12, 16))(image))
    call = only(run, "resize")
    assert call.function["op"] == "torchvision.transforms.Resize"
    params = call.function["params"]
    assert params["size"] == [12, 16] and params["interpolation"] == "BILINEAR" and params["antialias"] is True
    assert call.output().load().shape == (12, 16, 3)


def test_functional_resize_on_tensors_records_once(record):
    """F.resize on a tensor is one resize record, not also the interpolate it calls."""
    x = torch.rand(3, 20, 20)
    run = record(lambda: F.resize(x, [10, 10], antialias=False))
    call = only(run, "resize")
    assert call.function["op"] == "torchvision.transforms.functional.resize"
    assert call.function["params"]["antialias"] is False


def test_to_tensor_normalize_and_pad_are_recorded_by_kind(record, images):
    """ToTensor and Normalize record as normalize (with mean/std), Pad as pad (with padding and fill)."""
    image = Image.open(images[0]).convert("RGB")
    pipeline = transforms.Compose([transforms.Pad(2, fill=114), transforms.ToTensor(),
                                   transforms.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2))])
    run = record(lambda: pipeline(image))
    assert [s for s, _ in ops(run)] == ["pad", "normalize", "normalize"]
    normalize = run.calls(stage="normalize")[1]
    assert normalize.function["op"] == "torchvision.transforms.Normalize"
    assert normalize.function["params"]["mean"] == [0.5, 0.4, 0.3]
    assert only(run, "pad").function["params"]["fill"] == 114


def test_read_image_is_a_decode_named_by_the_file(record, images):
    """torchvision.io.read_image records a decode in the sample of the file's base name."""
    run = record(lambda: torchvision.io.read_image(images[1]))
    call = only(run, "decode")
    assert call.function["op"] == "torchvision.io.read_image" and call.sample == basename(images[1])
    assert tuple(call.output().load().shape) == (3, 30, 40)


def test_batched_nms_records_once(record):
    """batched_nms records one nms (its inner nms call is not a second stage)."""
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    kept = []
    run = record(lambda: kept.append(torchvision.ops.batched_nms(boxes, scores, torch.tensor([0, 0, 1]), 0.5)))
    call = only(run, "nms")
    assert call.function["op"] == "torchvision.ops.batched_nms" and call.function["params"]["box_format"] == "xyxy"
    np.testing.assert_array_equal(call.output().load(), kept[0].numpy())


def test_lazy_decode_inside_convert_is_its_own_decode_stage(record, tmp_path):
    """Image.open(jpg).convert("RGB"): the JPEG decode records first, names the sample, then the convert."""
    path = str(tmp_path / "photo.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    run = record(lambda: Image.open(path).convert("L"))
    assert [(c.sample, c.stage, c.function["op"]) for c in run.calls()] == [
        ("photo.jpg", "decode", "PIL.Image.open"), ("photo.jpg", "color", "PIL.Image.Image.convert")]
    assert run.calls(stage="decode")[0].function["params"]["format"] == "JPEG"


def test_v2_resize_records_once_and_its_inherited_forward_is_restored(record):
    """transforms.v2.Resize records one resize with its settings; after the run Resize inherits forward again."""
    from torchvision.transforms import v2

    x = torch.rand(3, 20, 20)
    run = record(lambda: v2.Resize((10, 10), antialias=True)(x))
    call = only(run, "resize")
    assert call.function["op"] == "torchvision.transforms.v2.Resize" and call.function["params"]["size"] == [10, 10]
    assert "forward" not in vars(v2.Resize)
