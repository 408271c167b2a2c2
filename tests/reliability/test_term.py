"""bmtrace._term: colour decisions (NO_COLOR, FORCE_COLOR, TERM=dumb) and the progress line."""
import io

import pytest

from bmtrace._term import Progress, use_color


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("environ, tty, expected", [
    ({}, True, True),
    ({}, False, False),
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": ""}, True, True),  # empty means unset (no-color.org)
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "0"}, False, False),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),  # the opt-out wins
    ({"TERM": "dumb"}, True, False),
    ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
], ids=["tty", "pipe", "no-color", "no-color-empty", "force", "force-0", "both", "dumb", "dumb-forced"])
def test_auto_colour_follows_the_environment(environ, tty, expected):
    """--color auto: NO_COLOR, then FORCE_COLOR, then TERM=dumb, then whether the stream is a terminal."""
    stream = Tty() if tty else io.StringIO()
    assert use_color(stream, "auto", environ=environ) is expected


def test_explicit_flag_beats_the_environment():
    """--color always/never wins over NO_COLOR and FORCE_COLOR."""
    assert use_color(io.StringIO(), "always", environ={"NO_COLOR": "1"}) is True
    assert use_color(Tty(), "never", environ={"FORCE_COLOR": "1"}) is False


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_shows_count_rate_and_eta():
    """After the delay the line shows done/total, percent, rate and the remaining time."""
    clock, stream = Clock(), Tty()
    progress = Progress("diff", unit="calls", total=100, stream=stream, delay_s=0.5, clock=clock)
    clock.now = 10.0
    progress(25, 100)
    assert stream.getvalue() == "\rdiff: 25/100 (25%), 2.5 calls/s, ETA 0:30"


def test_progress_is_silent_off_a_terminal():
    """Into a file or pipe nothing is written (logs stay clean)."""
    clock, stream = Clock(), io.StringIO()
    progress = Progress("report", total=10, stream=stream, clock=clock)
    clock.now = 5.0
    progress.advance(3)
    progress.close()
    assert stream.getvalue() == ""


def test_progress_waits_for_the_delay_and_erases_itself():
    """Short work shows nothing; a shown line is erased by close()."""
    clock, stream = Clock(), Tty()
    progress = Progress("attribute", unit="runs", stream=stream, delay_s=1.0, clock=clock)
    clock.now = 0.5
    progress.advance()
    assert stream.getvalue() == ""
    clock.now = 2.0
    progress.advance()
    line = "attribute: 2, 1.0 runs/s"
    assert stream.getvalue() == "\r" + line
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len(line) + "\r")


def test_progress_redraws_at_most_ten_times_a_second():
    """Many updates within 0.1 s draw once; the final count is always drawn."""
    clock, stream = Clock(), Tty()
    progress = Progress("diff", total=1000, stream=stream, delay_s=0.0, clock=clock)
    clock.now = 1.0
    for done in range(1, 1000):
        progress(done, 1000)
    assert stream.getvalue().count("\r") == 1
    progress(1000, 1000)
    assert stream.getvalue().rstrip(" ").endswith("\rdiff: 1000/1000 (100%), 1000.0 items/s")
