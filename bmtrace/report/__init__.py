"""Rendering diff results (a DiffResult): plain text (no dependencies), the JSON document, and HTML.

``text`` and ``json_doc`` use the standard library only; the HTML report (``report.html``)
imports its plotting dependencies when used, so import it explicitly.
"""
from .json_doc import dumps, validate
from .text import render, render_table

__all__ = ["dumps", "render", "render_table", "validate"]
