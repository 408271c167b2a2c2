"""Terminal conventions shared by the commands: when to colour, and a progress line for long work.

Colour (``use_color``), first rule that applies:
  1. an explicit flag: ``--color always`` / ``never`` (or True / False);
  2. ``NO_COLOR`` set to a non-empty value: no colour (https://no-color.org);
  3. ``FORCE_COLOR`` set to a non-empty value other than ``0``/``false``: colour, even into a pipe;
  4. ``TERM=dumb``: no colour;
  5. otherwise colour only when the stream is a terminal.

Progress (``Progress``) is written to stderr, only when stderr is a terminal (never into logs or
pipes), only once the work has lasted ``delay_s``, and erased when done.
"""
from __future__ import annotations

import os
import sys
import time

_FALSE_WORDS = ("0", "false", "no", "off")


def use_color(stream=None, flag="auto", environ=None):
    """True when output to ``stream`` should be coloured (see the module docstring for the rules)."""
    if flag is True or flag == "always":
        return True
    if flag is False or flag == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force and force.strip().lower() not in _FALSE_WORDS:
        return True
    if env.get("TERM") == "dumb":
        return False
    return is_terminal(stream if stream is not None else sys.stdout)


def is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or replaced streams
        return False


def terminal_width(stream=None, default=None):
    """Columns of the terminal behind ``stream``, or ``default`` when it is not a terminal."""
    stream = stream if stream is not None else sys.stdout
    if not is_terminal(stream):
        return default
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return default


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, secs) if hours else "%d:%02d" % (minutes, secs)


class Progress:
    """``label: 120/500 (24%), 35.2 calls/s, ETA 0:11`` on one rewritten stderr line.

    Use as ``progress(done, total)`` (the diff engine's callback form), or ``progress.advance(n)``
    after ``Progress(total=N)``; ``close()`` (or leaving a ``with`` block) erases the line.

    Args:
        label: what is being done ("diff", "report", "attribute").
        unit: what is counted ("calls", "samples", "runs").
        total: number of items when known up front (None: shown as a plain count and rate).
        stream: defaults to stderr; nothing is written unless it is a terminal (``enabled=None``).
        delay_s: stay silent for work shorter than this.
        enabled: force on/off (tests); None decides by the stream.
    """

    def __init__(self, label, unit="items", total=None, stream=None, delay_s=0.5, enabled=None, clock=None):
        self.label, self.unit, self.total = label, unit, total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else bool(enabled)
        self.delay_s = delay_s
        self._clock = clock or time.monotonic
        self.started = self._clock()
        self.done = 0
        self._last_draw = None
        self._drawn_width = 0

    def __call__(self, done, total=None):
        self.done = done
        if total is not None:
            self.total = total
        self._maybe_draw()

    def advance(self, n=1):
        self.done += n
        self._maybe_draw()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def line(self):
        """The text of the progress line for the current state."""
        elapsed = max(self._clock() - self.started, 1e-9)
        rate = self.done / elapsed
        text = "%s: %d" % (self.label, self.done)
        if self.total:
            text += "/%d (%d%%)" % (self.total, int(100 * self.done / self.total))
        text += ", %.1f %s/s" % (rate, self.unit)
        if self.total and self.done and self.done < self.total and rate > 0:
            text += ", ETA %s" % _clock((self.total - self.done) / rate)
        return text

    def _maybe_draw(self):
        if not self.enabled:
            return
        now = self._clock()
        finished = self.total is not None and self.done >= self.total
        if now - self.started < self.delay_s:
            return
        if self._last_draw is not None and now - self._last_draw < 0.1 and not finished:
            return  # at most ten redraws a second
        self._last_draw = now
        text = self.line()
        pad = max(self._drawn_width - len(text), 0)  # spaces, not escape codes: fine on TERM=dumb
        self._write("\r" + text + " " * pad)
        self._drawn_width = len(text)

    def close(self):
        """Erase the line so the next output starts clean."""
        if self._drawn_width:
            self._write("\r" + " " * self._drawn_width + "\r")
            self._drawn_width = 0

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not break the command
            self.enabled = False
