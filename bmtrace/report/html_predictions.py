"""The predictions block of a stage whose outputs are predictions: task summary, per-sample table, and
for detections A's and B's boxes drawn over the sample's image; for classifications both top-5 lists."""
from __future__ import annotations

import numpy as np

from .html_page import esc, fmt_num, fmt_sample

# Box colours by match status: matched boxes agree, the rest is what the port lost or added.
_COLOURS = {"matched": "#2e7d32", "class_flip": "#6a1b9a", "missing": "#c62828", "extra": "#ef6c00"}
MAX_DRAWN = 3


def predictions_block(model, group, opts):
    """HTML for ``group``'s predictions, or "" when the stage holds none."""
    merged = (model.result.predictions or {}).get(group.name)
    if not merged:
        return ""
    rows, drawn = [], 0
    for entry in group.entries:
        pred = entry.raw.get("predictions")
        if not isinstance(pred, dict):
            continue
        rows.append("<tr><td>%s</td><td>%s</td></tr>" % (fmt_sample(entry.sample), esc(pred.get("summary"))))
        if drawn < MAX_DRAWN and pred.get("kind") == "detections" and pred.get("boxes"):
            picture = _boxes_picture(entry, pred, opts)
            if picture:
                rows.append('<tr><td colspan="2">%s</td></tr>' % picture)
                drawn += 1
        elif drawn < MAX_DRAWN and pred.get("kind") == "classification" and pred.get("top5"):
            rows.append('<tr><td colspan="2">%s</td></tr>' % _top5_table(pred["top5"]))
            drawn += 1
    extra = ""
    agreement = merged.get("map_b_vs_a")
    if isinstance(agreement, dict) and agreement.get("map") is not None:
        extra = " &middot; mAP@[.5:.95] of B against A: %s" % fmt_num(agreement["map"])
    return ('<div class="predictions"><h3>Predictions</h3><p class="summary"><b>%s</b>%s</p>'
            '<p class="summary">%s</p><table><tr><th>sample</th><th>predictions</th></tr>%s</table></div>'
            % (esc(merged.get("summary")), extra, esc(merged.get("matching") or ""), "".join(rows)))


def _top5_table(top5):
    rows = []
    for rank in range(max(len(top5.get("a") or ()), len(top5.get("b") or ()))):
        cells = []
        for side in ("a", "b"):
            items = top5.get(side) or ()
            if rank < len(items):
                cls, prob = items[rank]
                cells.append("<td class=num>%s</td><td class=num>%s</td>" % (esc(cls), fmt_num(prob)))
            else:
                cells.append("<td></td><td></td>")
        rows.append("<tr><td class=num>%d</td>%s</tr>" % (rank + 1, "".join(cells)))
    return ("<table><tr><th>rank</th><th>A class</th><th>A prob</th><th>B class</th><th>B prob</th></tr>%s"
            "</table>" % "".join(rows))


def _sample_image(model, entry, opts):
    """The first image recorded in this sample on side A (the decoded frame the boxes refer to).

    Boxes are usually rescaled to that frame; when they are not (boxes in letterboxed network
    coordinates), the picture still shows where the two sides disagree, on the wrong backdrop."""
    from .html_images import as_image

    index = opts.get("index_a")
    if index is None:
        return None
    for other in model.entries:
        if other.sample != entry.sample or other.comparison.call_a is None:
            continue
        call = index.find(other.comparison.call_a, other.sample, other.stage, other.occurrence)
        if call is None:
            continue
        for tensor in call.outputs:
            if tensor.kind == "array" and tensor.dtype == "uint8" and tensor.shape and len(tensor.shape) == 3 \
                    and tensor.has_payload:
                try:
                    view = as_image(tensor.load(), tensor.meta)
                except Exception:
                    continue
                if view is not None:
                    return view, tensor.meta
        break
    return None


def _boxes_picture(entry, pred, opts):
    """A's boxes (solid) and B's (dashed) over the sample image, coloured by match status."""
    found = _sample_image(opts["model"], entry, opts)
    if found is None:
        return ""
    view, meta = found
    from .html_images import is_bgr
    from .html_plots import _figure, _to_uri

    img = np.asarray(view.hwc)
    if img.shape[2] == 3 and is_bgr(meta):
        img = img[:, :, ::-1]
    height, width = img.shape[:2]
    scale = min(1.0, 480.0 / max(height, width))
    fig = _figure(width * scale / 80.0 + 0.2, height * scale / 80.0 + 0.2)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(img.squeeze() if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None)
    ax.set_axis_off()
    from matplotlib.patches import Rectangle

    for side, style in (("a", "-"), ("b", "--")):
        for box in pred["boxes"].get(side) or ():
            x1, y1, x2, y2 = box["box"]
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linestyle=style, linewidth=1.2,
                                   edgecolor=_COLOURS.get(box.get("status"), "#455a64")))
    legend = ", ".join('<span style="color:%s">%s</span>' % (c, s.replace("_", " ")) for s, c in _COLOURS.items())
    return ('<figure><img class="plot" alt="boxes of A (solid) and B (dashed)" src="%s"><figcaption>A solid, '
            'B dashed: %s</figcaption></figure>' % (_to_uri(fig), legend))
