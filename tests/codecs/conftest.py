"""Record values through a real run and read them back, for the codec tests."""
import os
import sys

import pytest

import bmtrace

FAKES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fakes")
if FAKES not in sys.path:
    sys.path.insert(0, FAKES)


@pytest.fixture
def record(tmp_path):
    """record(**values) -> the recorded input leaves of one call, as the reader returns them."""
    counter = [0]

    def _record(**values):
        counter[0] += 1
        path = tmp_path / ("run%d" % counter[0])
        with bmtrace.run(path):
            with bmtrace.trace_stage("s") as st:
                st.input(**values)
        return bmtrace.open_run(path).calls()[0].inputs

    return _record
