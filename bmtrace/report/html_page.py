"""Page furniture for the HTML report: stylesheet, escaping and number formatting.

Everything the page needs is inline (no external CSS, JS or fonts) so the file opens offline.
"""
from __future__ import annotations

import html
import math

from ..compare.status import word as status_word  # noqa: F401  (re-exported for the page modules)
from .html_model import to_float

CSS = """
:root { --ok:#2e7d32; --exact:#1b5e20; --warn:#b28704; --bad:#c62828; --missing:#6d6d6d;
        --error:#6a1b9a; --unknown:#455a64; --ink:#1d2430; --muted:#5f6b7a; --line:#dde2e8; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--ink); background:#f5f7fa; }
main { max-width:1200px; margin:0 auto; padding:16px 20px 60px; }
h1 { font-size:20px; margin:4px 0 2px; } h2 { font-size:17px; margin:28px 0 8px; }
h3 { font-size:14px; margin:16px 0 6px; }
a { color:#0b57d0; text-decoration:none; } a:hover { text-decoration:underline; }
code, .mono { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12.5px; }
.runs { color:var(--muted); font-size:12.5px; } .runs code { color:var(--ink); }
.verdict { border-radius:8px; padding:14px 18px; margin:12px 0; color:#fff; }
.verdict.ok { background:var(--ok); } .verdict.bad { background:var(--bad); } .verdict.warn { background:var(--warn); }
.verdict.missing { background:var(--missing); } .verdict.error { background:var(--error); }
.verdict .word { font-size:22px; font-weight:700; letter-spacing:.5px; }
.verdict a { color:#fff; text-decoration:underline; }
#first-divergence { font-size:15px; margin-top:6px; }
.verdict .cause { margin-top:6px; font-size:14px; }
.verdict .counts { margin-top:6px; opacity:.92; font-size:13px; }
.strip { display:flex; flex-wrap:wrap; gap:0; margin:10px 0 4px; align-items:stretch; }
.chip { display:block; min-width:110px; padding:7px 10px; margin:0 14px 6px 0; border-radius:6px;
        color:#fff; position:relative; }
.chip:not(:last-child)::after { content:"\\2192"; position:absolute; right:-13px; top:30%;
        color:var(--muted); }
.chip:hover { text-decoration:none; filter:brightness(1.12); }
.chip .n { font-weight:600; } .chip .c { font-size:11.5px; opacity:.95; }
.chip.first { outline:3px solid #111; outline-offset:1px; }
.s-ok { background:var(--ok); } .s-exact { background:var(--exact); } .s-warn { background:var(--warn); }
.s-bad { background:var(--bad); } .s-inherit { background:#e0726a; } .s-missing { background:var(--missing); }
.s-error { background:var(--error); } .s-unknown { background:var(--unknown); }
.badge { display:inline-block; padding:0 7px; border-radius:9px; color:#fff; font-size:11.5px;
         font-weight:600; white-space:nowrap; }
.toc { background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 12px; margin:12px 0; }
.toc a { margin-right:12px; white-space:nowrap; }
section.stage, section.block { background:#fff; border:1px solid var(--line); border-radius:8px;
        padding:4px 16px 14px; margin:16px 0; }
section.stage.first { border:2px solid var(--bad); }
table { border-collapse:collapse; width:100%; font-size:12.5px; margin:6px 0; }
th, td { border-bottom:1px solid var(--line); padding:3px 6px; text-align:left; vertical-align:top; }
th { background:#eef1f5; font-weight:600; position:sticky; top:0; }
td.num { text-align:right; font-family:ui-monospace,"DejaVu Sans Mono",monospace; }
td.nw { white-space:nowrap; }
tr.hl td { background:#fff3f3; }
tr:target td { background:#fff8c5; }
.na { color:var(--muted); } .nonfinite { color:var(--bad); font-weight:700; }
.cell-note { color:var(--muted); font-style:italic; }
.cell-bad { color:var(--bad); font-weight:600; }
.summary { color:var(--muted); }
.hint { border-left:4px solid var(--warn); background:#fffaf0; padding:6px 10px; margin:6px 0; }
.hint .cause { font-weight:600; }
.entry { border-top:1px dashed var(--line); margin-top:10px; padding-top:6px; }
.tensor { margin:8px 0 14px; }
.panels { display:flex; flex-wrap:wrap; gap:12px; align-items:flex-start; }
figure { margin:0; } figcaption { font-size:12px; color:var(--muted); max-width:260px; }
img.pic { width:240px; height:auto; border:1px solid var(--line); background:#ccc; }
img.pic.small { image-rendering:pixelated; }
img.plot { max-width:100%; border:1px solid var(--line); }
.scale { width:240px; } .scale .bar { height:10px; border:1px solid var(--line); }
.scale .ticks { display:flex; justify-content:space-between; font-size:11px; color:var(--muted); }
.placeholder { width:240px; min-height:80px; border:1px dashed var(--missing); display:flex;
        align-items:center; justify-content:center; text-align:center; color:var(--muted);
        padding:8px; font-size:12.5px; }
details > summary { cursor:pointer; color:#0b57d0; margin:6px 0; }
.local { margin:6px 0; }
footer { color:var(--muted); font-size:12px; margin-top:30px; }
.filter { margin:8px 0; } .filter input[type=search] { width:min(420px, 90%); padding:4px 8px; }
.toc.worst .badge { margin-right:3px; }
"""


def esc(value):
    """HTML-escape any value (None becomes an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def fmt_num(value, digits=4):
    """Format a metric for a table cell as HTML: absent -> dash, NaN/inf flagged in red."""
    number = to_float(value)
    if number is None:
        return '<span class="na">&mdash;</span>'
    if math.isnan(number):
        return '<span class="nonfinite">NaN</span>'
    if math.isinf(number):
        return '<span class="nonfinite">%s&infin;</span>' % ("-" if number < 0 else "")
    if number == 0:
        return "0"
    if number == int(number) and abs(number) < 1e9:
        return "%d" % number
    if abs(number) >= 1e4 or abs(number) < 1e-3:
        return "%.*e" % (max(digits - 2, 1), number)
    return "%.*g" % (digits, number)


def fmt_bound(value, lower, digits=4):
    """``fmt_num`` of a max |A-B|, marked &ge; when it only bounds the difference from below (a stats-mode
    record judged from a sample of its values), as the text report's ">=" and the JSON's "lower_bound"."""
    text = fmt_num(value, digits)
    return "&ge;" + text if lower and to_float(value) else text


def fmt_cos(value):
    """Cosine similarity with enough decimals to tell 0.9999 from 0.99999."""
    number = to_float(value)
    if number is None or math.isnan(number) or math.isinf(number):
        return fmt_num(value)
    return "%.6f" % number


def fmt_ratio(value):
    """Share of equal elements as a percentage."""
    number = to_float(value)
    if number is None or math.isnan(number) or math.isinf(number):
        return fmt_num(value)
    return "%.2f%%" % (100.0 * number)


def fmt_shape(shape):
    """Shape list as "224x224x3"; absent shape as a dash (the side has no such tensor)."""
    if shape is None:
        return '<span class="na">missing</span>'
    if isinstance(shape, (list, tuple)):
        return esc("x".join(str(s) for s in shape) if shape else "scalar")
    return esc(shape)


def fmt_sample(sample):
    """Sample key for display; None (records outside any sample) is shown as such."""
    return '<span class="na">(no sample)</span>' if sample is None else "<code>%s</code>" % esc(sample)


def badge(text, css):
    """Coloured status pill."""
    return '<span class="badge s-%s">%s</span>' % (css, esc(text))
