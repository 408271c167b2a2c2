"""Image panels: which tensors count as pictures, how they are scaled, downsampled and encoded."""
import base64
import io
import re

import numpy as np
import pytest

from bmtrace.report import html_images as im


@pytest.mark.parametrize("shape, layout", [
    ((32, 40, 3), "HWC"),
    ((32, 40, 1), "HWC"),
    ((3, 32, 40), "CHW"),
    ((1, 32, 40), "CHW"),
    ((1, 3, 32, 40), "CHW"),
    ((1, 32, 40, 3), "HWC"),
    ((32, 40), "HW"),
])
def test_image_layouts_are_recognised(shape, layout):
    """HW, HWC, CHW, NCHW and NHWC with 1 or 3 channels become a 32x40 picture."""
    view = im.as_image(np.zeros(shape, np.uint8))
    assert view is not None and view.layout == layout
    assert view.hw == (32, 40)


@pytest.mark.parametrize("shape", [(10,), (4, 4, 3), (32, 32, 5), (2, 2, 3, 32, 32), (1000, 4)])
def test_non_images_are_not_pictures(shape):
    """Vectors, tiny maps, 5-channel and 5-D tensors and thin tables are not drawn as pictures."""
    assert im.as_image(np.zeros(shape, np.float32)) is None


def test_chw_pixels_keep_their_channel():
    """A CHW tensor is transposed, not reshaped: channel c of pixel (y, x) stays channel c."""
    chw = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    view = im.as_image(chw)
    assert view.hwc[2, 5].tolist() == [chw[0, 2, 5], chw[1, 2, 5], chw[2, 2, 5]]


def test_nchw_meta_reads_the_second_axis_as_channels():
    """A batch-of-one tensor tagged NCHW puts its second axis into the picture's channels."""
    nchw = np.zeros((1, 3, 16, 16), np.float32)
    nchw[0, 1] = 1.0
    view = im.as_image(nchw, {"layout": "NCHW"})
    assert view.layout == "CHW" and view.hwc[..., 1].min() == 1.0 and view.hwc[..., 0].max() == 0.0


def test_batch_larger_than_one_shows_first_item_and_says_so():
    """A batch of 4 pictures draws item 0 with a note naming the batch size."""
    view = im.as_image(np.zeros((4, 3, 16, 16), np.float32))
    assert view.note == "batch item 0 of 4"


def test_bgr_meta_is_flipped_for_display():
    """A pure-blue BGR pixel (255, 0, 0) is shown as RGB (0, 0, 255)."""
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 0] = 255
    view = im.as_image(img, {"color": "BGR"})
    rgb = im.to_rgb8(view, im.is_bgr({"color": "BGR"}), 0.0, 255.0, 1)
    assert rgb[0, 0].tolist() == [0, 0, 255]


def test_nan_pixels_are_painted_magenta():
    """NaN pixels do not turn into a valid grey level: they get the NaN colour."""
    img = np.full((8, 8, 3), 0.5, np.float32)
    img[3, 4, 1] = np.nan
    rgb = im.to_rgb8(im.as_image(img), False, 0.0, 1.0, 1)
    assert tuple(rgb[3, 4]) == im.NAN_PIXEL and tuple(rgb[0, 0]) != im.NAN_PIXEL


@pytest.mark.parametrize("arrays, expected", [
    ((np.uint8([[0, 7]]), np.uint8([[3, 9]])), (0.0, 255.0)),
    ((np.float32([[0.1, 0.9]]), np.float32([[0.2, 0.5]])), (0.0, 1.0)),
    ((np.float32([[-2.0, 1.5]]), np.float32([[0.0, 2.5]])), (-2.0, 2.5)),
    ((np.float32([[np.nan, 0.5]]), np.float32([[np.inf, 0.25]])), (0.0, 1.0)),
])
def test_display_range_is_shared_by_both_sides(arrays, expected):
    """uint8 keeps 0..255, unit floats 0..1, normalised data its joint finite min..max."""
    assert im.display_range(*arrays) == expected


def test_abs_diff_of_uint8_does_not_wrap():
    """|10 - 250| is 240 for uint8 pictures, not the wrapped 16."""
    a = np.full((8, 8, 1), 10, np.uint8)
    b = np.full((8, 8, 1), 250, np.uint8)
    assert im.abs_diff(im.as_image(a), im.as_image(b)).max() == 240


def test_abs_diff_flags_one_sided_nan_and_forgives_shared_nan():
    """NaN on both sides is no difference; NaN on one side is a NaN in the map."""
    a = np.zeros((8, 8), np.float32)
    b = np.zeros((8, 8), np.float32)
    a[1, 1] = b[1, 1] = np.nan
    b[2, 2] = np.nan
    diff = im.abs_diff(im.as_image(a), im.as_image(b))
    assert diff[1, 1] == 0 and np.isnan(diff[2, 2]) and np.isfinite(diff).sum() == 63


def test_block_max_keeps_a_single_pixel_spike():
    """Downsampling the heatmap keeps a one-pixel difference that plain striding would drop."""
    diff = np.zeros((100, 200))
    diff[37, 91] = 5.0
    assert diff[::4, ::4].max() == 0  # why block max: striding misses the spike
    small = im.block_max(diff, 4)
    assert small.shape == (25, 50) and small.max() == 5.0


def test_stride_brings_long_side_under_the_cap():
    """A 1080x1920 picture capped at 256 is drawn at most 256 pixels wide."""
    step = im.stride_for(1080, 1920, 256)
    assert len(range(0, 1920, step)) <= 256 and len(range(0, 1920, step - 1)) > 256


def test_png_data_uri_round_trips_pixels():
    """The inlined PNG decodes (with PIL) to exactly the pixels that were encoded."""
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    uri = im.png_data_uri(rgb)
    assert uri.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
    assert np.array_equal(decoded, rgb)


def test_heatmap_marks_nan_with_bad_colour():
    """Non-finite differences are painted in a colour outside the heat colour map."""
    diff = np.array([[0.0, 1.0], [np.nan, 0.5]])
    rgb = im.heatmap_rgb(diff, 1.0)
    assert tuple(rgb[1, 0]) == im.BAD_COLOUR and tuple(rgb[0, 1]) != im.BAD_COLOUR
    assert rgb[0, 1].astype(int).sum() > rgb[0, 0].astype(int).sum()  # larger difference is brighter


def test_a_pair_compared_in_b_colour_order_is_drawn_and_differenced_so(tmp_path):
    """B decodes BGR (exactly A reversed) and resizes one level off: the diff compares B's values as BGR,
    and so do the report's pictures and heatmaps. The decode heatmap says no pixel differs, the resize
    one gives the table's max |A-B| (1), not the hundreds a channel-blind difference shows."""
    import html
    import re

    import bmtrace
    from bmtrace.report.html import render_html

    def record(path, port):
        with bmtrace.run(str(path)):
            with bmtrace.sample("x.jpg"):
                img = np.zeros((40, 48, 3), np.uint8)
                img[..., 0] = np.linspace(0, 250, 48)[None, :]
                img[..., 2] = 250 - img[..., 0]
                img = img[..., ::-1].copy() if port else img
                with bmtrace.trace_stage("decode") as st:
                    st.output(img)
                with bmtrace.trace_stage("resize") as st:
                    small = img[::2, ::2] + np.uint8(1 if port else 0)
                    st.output(np.ascontiguousarray(small))
        return str(path)

    a, b = record(tmp_path / "a", False), record(tmp_path / "b", True)
    result = bmtrace.diff(a, b, explain=False)
    worst = {e.stage: e.tensors[0].max_abs_diff for e in result.stages}
    assert worst == {"decode": 0.0, "resize": 1.0}
    page = render_html(result, bmtrace.open_run(a), bmtrace.open_run(b), aligned_rows=10)
    captions = [html.unescape(re.sub("<[^>]+>", "", c))
                for c in re.findall(r"<figcaption><b>\|A-B\|</b>.*?</figcaption>", page)]
    assert len(captions) == 2, captions
    assert all("B's channels reversed, as the diff compared them" in c for c in captions)
    assert any("0.00% pixels differ" in c and "at (y" not in c for c in captions)
    assert any("max 1 at" in c for c in captions)


@pytest.mark.parametrize("meta_a, meta_b", [({"color": "BGR"}, {}), ({"color": "RGB"}, {"color": "BGR"}), ({}, {})])
def test_b_is_drawn_in_its_own_colour_order_and_differenced_in_a_s(meta_a, meta_b):
    """Whichever side declares its colour order (cv2.imread's meta says BGR), both pictures show the same
    colours and the heatmap of B = A with channels reversed is all zeros."""
    import base64

    from PIL import Image

    from bmtrace.compare.representation import find_mapping
    from bmtrace.report.html_tensors import Side, image_panels

    class Tensor:
        def __init__(self, meta):
            self.meta = meta

    y, x = np.mgrid[0:40, 0:48]
    rgb = np.stack([x * 5, y * 6, 255 - x * 5], -1).astype(np.uint8)
    a = rgb[..., ::-1].copy() if meta_a.get("color") == "BGR" else rgb
    b = a[..., ::-1].copy()
    mapping = find_mapping(a, b, meta_a, meta_b).to_json()
    page = image_panels(Side("A", tensor=Tensor(meta_a), array=a), Side("B", tensor=Tensor(meta_b), array=b),
                        256, mapping)
    shown = [np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB"))
             for uri in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert np.array_equal(shown[0], shown[1]) and np.array_equal(shown[0], rgb)
    assert "0.00% pixels differ" in page
