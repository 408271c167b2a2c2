"""Plots for non-image tensors: an error histogram and A-vs-B values, as inline PNGs (matplotlib Agg).

matplotlib is imported inside the functions so that importing the report package stays cheap; the
object-oriented Figure API is used instead of pyplot so no global state or GUI backend is touched.
"""
from __future__ import annotations

import base64
import io

import numpy as np

# Enough points to show structure in a scatter while keeping each PNG a few tens of kB.
MAX_POINTS = 4000
MAX_HIST = 1000000
COLOUR_A = "#1f6fb4"
COLOUR_B = "#d9641e"


def _even_sample(flat, n):
    # Evenly spaced indices: deterministic (reports of the same runs are identical) and covers the tensor.
    if flat.size <= n:
        return flat
    idx = np.linspace(0, flat.size - 1, n).astype(np.int64)
    return flat[idx]


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def _to_uri(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plain_ticks(ax, log_y=False):
    # Few ticks with plain-text labels: tick creation and mathtext ("10^2" labels of log axes go
    # through a parser) are most of a small figure's drawing time.
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

    ax.xaxis.set_major_locator(MaxNLocator(4))
    if log_y:
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: "%g" % v))
    ax.tick_params(labelsize=7)


def _note(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def error_plots(a, b):
    """PNG data URI: histogram of B-A (left) and B against A (right) for same-sized arrays.

    Non-finite elements are left out of both plots and counted in the titles, so NaN or inf on
    either side never breaks the figure.
    """
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    sampled = a.size > MAX_HIST
    if sampled:  # a histogram of a million evenly spread elements looks the same and costs far less
        a, b = _even_sample(a, MAX_HIST), _even_sample(b, MAX_HIST)
    a, b = a.astype(np.float64), b.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    skipped = int(a.size - finite.sum())
    fa, fb = a[finite], b[finite]
    fig = _figure(7.2, 2.5)
    ax_h, ax_s = fig.subplots(1, 2)
    diff = fb - fa
    title = "error B-A" + (" (%d non-finite left out)" % skipped if skipped else "")
    if sampled:
        title += " (%d evenly spread elements)" % MAX_HIST
    ax_h.set_title(title, fontsize=9)
    if diff.size == 0:
        _note(ax_h, "no finite pairs")
    elif not diff.any():
        _note(ax_h, "all %d differences are 0" % diff.size)
    else:
        ax_h.hist(diff, bins=60, color="#b83232", histtype="stepfilled")  # one polygon, not 60 bars
        ax_h.set_yscale("log")
        _plain_ticks(ax_h, log_y=True)
    ax_s.set_title("B against A (%s points)" % min(fa.size, MAX_POINTS), fontsize=9)
    if fa.size == 0:
        _note(ax_s, "no finite pairs")
    else:
        sa, sb = _even_sample(fa, MAX_POINTS), _even_sample(fb, MAX_POINTS)
        lo = float(min(sa.min(), sb.min()))
        hi = float(max(sa.max(), sb.max()))
        ax_s.plot([lo, hi], [lo, hi], color="#999", lw=0.8, ls="--")
        # few points (logits, scores) need visible markers; thousands need small ones to show density
        ax_s.scatter(sa, sb, s=3 if sa.size > 200 else 16, color=COLOUR_A, alpha=0.6, linewidths=0)
        ax_s.set_xlabel("A", fontsize=8)
        ax_s.set_ylabel("B", fontsize=8)
        _plain_ticks(ax_s)
    # fixed margins: tight_layout measures every tick label and costs more than drawing the plot
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.88, wspace=0.25)
    return _to_uri(fig)


def value_histograms(a, b):
    """PNG data URI overlaying the value distributions of A and B (for tensors of different sizes)."""
    fig = _figure(4.4, 2.5)
    ax = fig.subplots()
    ax.set_title("values of A and B (sizes differ: no element pairs)", fontsize=9)
    drawn = False
    for arr, colour, label in ((a, COLOUR_A, "A"), (b, COLOUR_B, "B")):
        if arr is None:
            continue
        flat = np.asarray(arr, dtype=np.float64).ravel()
        flat = flat[np.isfinite(flat)]
        if flat.size:
            ax.hist(flat, bins=60, alpha=0.55, color=colour, label="%s (%d)" % (label, flat.size),
                    histtype="stepfilled")
            drawn = True
    if drawn:
        ax.legend(fontsize=7)
        _plain_ticks(ax)
    else:
        _note(ax, "no finite values")
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.88)
    return _to_uri(fig)
