"""Per-tensor visual panels of the HTML report: find the recorded tensors, load them, draw them.

Every failure mode (run not given, record or tensor missing on one side, stats-only payloads, empty
or non-numeric tensors, NaN/inf, shapes that differ) ends as a labelled placeholder cell, because a
report about broken data is exactly when people need it most.
"""
from __future__ import annotations

import numpy as np

from . import html_images as im
from . import html_plots
from .html_page import badge, esc, fmt_num, fmt_shape
from .html_model import tensor_css


class Side(object):
    """What one run holds for one tensor of an entry: the array, or why there is none."""

    def __init__(self, label, tensor=None, array=None, reason=None):
        self.label = label
        self.tensor = tensor
        self.array = array
        self.reason = reason

    @property
    def meta(self):
        """The recorded tensor's meta dict (layout, colour order), empty when unknown."""
        return dict(getattr(self.tensor, "meta", None) or {})


class CallIndex(object):
    """Finds the calls of one run by id or by (sample, stage, occurrence), parsing the run once."""

    def __init__(self, run):
        self.run = run
        self._by_id = None
        self._by_key = None

    def _build(self):
        self._by_id, self._by_key = {}, {}
        for call in self.run.calls():
            self._by_id[call.id] = call
            self._by_key[(_key(call.sample), call.stage, call.occurrence)] = call

    def find(self, call_id, sample, stage, occurrence):
        """The call with this id, else stage number `occurrence` of `stage` within `sample`, else None."""
        if self._by_id is None:
            self._build()
        if call_id is not None and call_id in self._by_id:
            return self._by_id[call_id]
        return self._by_key.get((_key(sample), stage, occurrence))


def _key(sample):
    return ("none",) if sample is None else ("key", str(sample))


def find_tensor(call, name, role=None):
    """The tensor called `name` in a call; with no role given, outputs are searched before inputs."""
    groups = {"input": (call.inputs,), "output": (call.outputs,)}.get(role, (call.outputs, call.inputs))
    for group in groups:
        for tensor in group:
            if tensor.name == name:
                return tensor
    return None


def load_side(label, index, where, name, role=None):
    """Locate and load one side's tensor; never raises, the reason says what is missing.

    Args:
        label: "A" or "B".
        index: CallIndex of that side's run, or None when the run was not given.
        where: (call_id, sample, stage, occurrence) of the record on that side.
        name, role: tensor name on that side and its role ("input"/"output"), if known.
    """
    if index is None:
        return Side(label, reason="run %s not given to the report" % label)
    try:
        call = index.find(*where)
    except Exception as exc:  # a damaged run must not stop the rest of the report
        return Side(label, reason="could not read run %s: %s" % (label, exc))
    if call is None:
        return Side(label, reason="no record of this stage in run %s" % label)
    tensor = find_tensor(call, name, role)
    if tensor is None:
        return Side(label, reason="run %s has no tensor %r here" % (label, name))
    if tensor.kind not in ("array", "scalar"):
        return Side(label, tensor=tensor, reason="a %s value, not an array" % tensor.kind)
    if not tensor.has_payload:
        return Side(label, tensor=tensor, reason="statistics only (recorded in stats mode): no pixels")
    try:
        array = np.asarray(tensor.load())
    except Exception as exc:
        return Side(label, tensor=tensor, reason="payload could not be loaded: %s" % exc)
    if array.size == 0:
        return Side(label, tensor=tensor, reason="empty tensor (shape %s)" % "x".join(map(str, array.shape)))
    if array.dtype.kind not in "biuf":
        return Side(label, tensor=tensor, reason="dtype %s cannot be drawn" % array.dtype)
    return Side(label, tensor=tensor, array=array)


def _placeholder(text):
    return '<div class="placeholder">%s</div>' % esc(text)


def _figure(uri, caption, small=False):
    return ('<figure><img class="pic%s" src="%s" alt="%s"><figcaption>%s</figcaption></figure>'
            % (" small" if small else "", uri, esc(caption), caption))


def _describe(side, view=None, bgr=False, step=1):
    arr = side.array
    text = "<b>%s</b> &middot; %s %s" % (side.label, fmt_shape(list(arr.shape)), esc(arr.dtype))
    if view is not None:
        text += " &middot; %s" % esc(view.layout)
        if bgr:
            text += " (BGR, shown as RGB)"
        if view.note:
            text += " &middot; %s" % esc(view.note)
    if step > 1:
        text += " &middot; shown at 1/%d" % step
    bad = int(arr.size - np.isfinite(arr).sum()) if arr.dtype.kind == "f" else 0
    if bad:
        text += ' &middot; <span class="nonfinite">%d NaN/inf (magenta)</span>' % bad
    return text


def _scale_bar(vmax):
    if vmax <= 0:  # identical pictures: a 0..1 scale would suggest differences that are not there
        return ('<div class="scale"><div class="bar" style="background:rgb(0,0,4)"></div>'
                '<div class="ticks"><span>0: identical</span></div></div>')
    return ('<div class="scale"><div class="bar" style="background:linear-gradient(to right, %s)">'
            '</div><div class="ticks"><span>0</span><span>%s</span><span>%s</span></div></div>'
            % (im.colour_stops(), fmt_num(vmax / 2.0, 3), fmt_num(vmax, 3)))


def image_panels(a, b, max_side, representation=None):
    """A, B and the |A-B| heatmap with its colour scale, for sides whose tensors are pictures.

    ``representation``: the mapping the diff compared the pair under (its JSON), if any. When it says
    B's colour channels are A's reversed, the heatmap reverses B's as the figures of the table beside it
    did, and B is drawn in the colour order that makes (its meta's, else A's reversed)."""
    view_a = im.as_image(a.array, a.meta) if a.array is not None else None
    view_b = im.as_image(b.array, b.meta) if b.array is not None else None
    reversed_b = bool((representation or {}).get("channels_reversed")) and view_b is not None \
        and view_b.hwc.shape[2] == 3
    # B's colour order: as its meta says, else A's (as its meta says) reversed when the diff found so
    bgr_b = im.is_bgr(b.meta) if im.declared_order(b.meta) else im.is_bgr(a.meta) != reversed_b
    present = [v for v in (view_a, view_b) if v is not None]
    lo, hi = im.display_range(*[v.hwc for v in present])
    parts, steps = [], {}
    for side, view in ((a, view_a), (b, view_b)):
        if view is None:
            parts.append(_placeholder("%s: %s" % (side.label, side.reason or "not an image")))
            continue
        step = im.stride_for(view.hw[0], view.hw[1], max_side)
        steps[side.label] = step
        bgr = bgr_b if side is b else im.is_bgr(side.meta)
        rgb = im.to_rgb8(view, bgr, lo, hi, step)
        caption = _describe(side, view, bgr, step) + " &middot; range %s..%s" % (fmt_num(lo), fmt_num(hi))
        parts.append(_figure(im.png_data_uri(rgb), caption, small=max(rgb.shape[:2]) < 120))
    scale = (representation or {}).get("scale")
    scaled = isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale not in (0, 1) \
        and view_b is not None
    undone = []
    if reversed_b or scaled:
        hwc = view_b.hwc[..., ::-1] if reversed_b else view_b.hwc
        if scaled:
            hwc = hwc.astype(np.float64) / scale
        view_b = im.ImageView(hwc, view_b.layout, view_b.note)
        undone = (["B's channels reversed"] if reversed_b else []) + (["B divided by %s" % fmt_num(scale)]
                                                                      if scaled else [])
    parts.append(_heatmap(view_a, view_b, max_side, ", ".join(undone) + ", as the diff compared them"
                          if undone else None))
    return '<div class="panels">%s</div>' % "".join(parts)


def _heatmap(view_a, view_b, max_side, mapped=None):
    if view_a is None or view_b is None:
        return _placeholder("|A-B|: needs both sides")
    if view_a.hwc.shape != view_b.hwc.shape:
        return _placeholder("|A-B|: no heatmap, pictures differ in size (A %s, B %s)" % (
            "x".join(map(str, view_a.hwc.shape)), "x".join(map(str, view_b.hwc.shape))))
    diff = im.abs_diff(view_a, view_b)
    finite = diff[np.isfinite(diff)]
    vmax = float(finite.max()) if finite.size else 0.0
    differ = float(np.count_nonzero(diff != 0)) / diff.size  # NaN != 0 is True: counted as differing
    step = im.stride_for(diff.shape[0], diff.shape[1], max_side)
    rgb = im.heatmap_rgb(im.block_max(diff, step), vmax if vmax > 0 else 1.0)
    caption = "<b>|A-B|</b> (max over channels)"
    if view_a.layout != view_b.layout:
        caption += " after layout %s vs %s" % (esc(view_a.layout), esc(view_b.layout))
    if mapped:
        caption += " with %s" % esc(mapped)
    if vmax > 0:
        y, x = np.unravel_index(np.nanargmax(np.where(np.isfinite(diff), diff, -1.0)), diff.shape)
        caption += " &middot; max %s at (y %d, x %d)" % (fmt_num(vmax), y, x)
    caption += " &middot; %.2f%% pixels differ" % (100.0 * differ)
    if finite.size < diff.size:
        caption += ' &middot; <span class="nonfinite">%d non-finite (cyan)</span>' % (diff.size - finite.size)
    if step > 1:
        caption += " &middot; 1/%d, block max" % step
    img = ('<img class="pic%s" src="%s" alt="|A-B| heatmap">'
           % (" small" if max(rgb.shape[:2]) < 120 else "", im.png_data_uri(rgb)))
    return "<figure>%s%s<figcaption>%s</figcaption></figure>" % (img, _scale_bar(vmax), caption)


# Up to this many elements, the values themselves say more than a histogram of their errors.
SMALL_TENSOR = 32


def small_values_table(a, b):
    """Element-by-element A, B and B-A for small tensors (labels, scores, logits)."""
    fa = a.array.ravel().astype(np.float64)
    fb = b.array.ravel().astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = fb - fa
    same = (fa == fb) | (np.isnan(fa) & np.isnan(fb))
    head = "".join("<th>%d</th>" % i for i in range(fa.size))
    rows = []
    for label, values in (("A", fa), ("B", fb), ("B-A", diff)):
        cells = "".join('<td class="num%s">%s</td>' % ("" if ok or label == "A" else " cell-bad", fmt_num(v))
                        for v, ok in zip(values, same))
        rows.append("<tr><th>%s</th>%s</tr>" % (label, cells))
    return ('<table style="width:auto"><tr><th>index</th>%s</tr>%s</table>' % (head, "".join(rows)))


def value_panels(a, b):
    """Error histogram and A-vs-B scatter for numeric non-image tensors (or per-side value histograms)."""
    if a.array is not None and b.array is not None:
        if a.array.size == b.array.size <= SMALL_TENSOR:
            return small_values_table(a, b)
        if a.array.size == b.array.size:
            uri = html_plots.error_plots(a.array, b.array)
            note = "" if a.array.shape == b.array.shape else " (compared element by element after flattening)"
            return '<img class="plot" src="%s" alt="error plots">%s' % (uri, esc(note))
        return '<div class="panels"><img class="plot" src="%s" alt="value histograms"></div>' % (
            html_plots.value_histograms(a.array, b.array))
    parts = []
    for side in (a, b):
        if side.array is None:
            parts.append(_placeholder("%s: %s" % (side.label, side.reason)))
        else:
            parts.append('<img class="plot" src="%s" alt="values of %s">' % (
                html_plots.value_histograms(side.array if side.label == "A" else None,
                                            side.array if side.label == "B" else None), side.label))
    return '<div class="panels">%s</div>' % "".join(parts)


def _stat(tensor, key):
    return getattr(tensor, key, None) if tensor is not None else None


def stats_table(a, b):
    """Recorded statistics of both sides (what stats-only runs still have), side by side."""
    rows = []
    for key in ("dtype", "shape", "min", "max", "mean", "std", "nan_count", "inf_count", "hash"):
        cells = []
        for side in (a, b):
            value = _stat(side.tensor, key)
            if key == "shape":
                cells.append(fmt_shape(list(value)) if value is not None else '<span class="na">&mdash;</span>')
            elif key in ("dtype", "hash"):
                text = esc(value if key == "dtype" else (value or "")[:16])
                cells.append(text or '<span class="na">&mdash;</span>')
            else:
                cells.append(fmt_num(value))
        differs = _stat(a.tensor, key) != _stat(b.tensor, key)
        rows.append("<tr%s><th>%s</th><td class=num>%s</td><td class=num>%s</td></tr>"
                    % (' class="hl"' if differs else "", key, cells[0], cells[1]))
    return ('<table style="width:auto"><tr><th></th><th>A</th><th>B</th></tr>%s</table>' % "".join(rows))


def value_table(a, b):
    """Scalar, string or object values of both sides."""
    cells = []
    for side in (a, b):
        if side.tensor is None:
            cells.append('<span class="na">%s</span>' % esc(side.reason))
        else:
            cells.append("<code>%s</code>" % esc(repr(getattr(side.tensor, "value", None))[:300]))
    return ('<table style="width:auto"><tr><th>A</th><td>%s</td></tr><tr><th>B</th><td>%s</td></tr></table>'
            % tuple(cells))


def tensor_panel(tensor_doc, a, b, max_side):
    """One tensor's block: heading with status, then pictures, plots, stats or values."""
    name = tensor_doc.get("name")
    status = str(tensor_doc.get("status") or "unknown")
    role = ' <span class="summary">(%s)</span>' % esc(tensor_doc.get("role")) if tensor_doc.get("role") else ""
    head = '<h4 class="mono">%s%s %s</h4>' % (esc(name), role, badge(status, tensor_css(status)))
    notes = "".join('<div class="cell-note">%s</div>' % esc("%s: %s" % (s.label, s.reason))
                    for s in (a, b) if s.array is None and s.reason)
    try:
        body = _tensor_body(a, b, max_side, tensor_doc.get("representation"))
    except Exception as exc:  # drawing must never take the report down; say what failed instead
        body = '<div class="cell-bad">could not draw this tensor: %s</div>' % esc(exc)
    return '<div class="tensor">%s%s%s</div>' % (head, notes, body)


def _tensor_body(a, b, max_side, representation=None):
    arrays = [s.array for s in (a, b) if s.array is not None]
    if any(im.as_image(s.array, s.meta) is not None for s in (a, b) if s.array is not None):
        return image_panels(a, b, max_side, representation)
    if arrays:
        return value_panels(a, b)
    kinds = {getattr(s.tensor, "kind", None) for s in (a, b) if s.tensor is not None}
    if kinds and kinds <= {"scalar", "str", "bytes", "none", "object"}:
        return value_table(a, b)
    if a.tensor is not None or b.tensor is not None:
        return stats_table(a, b)
    return ""
