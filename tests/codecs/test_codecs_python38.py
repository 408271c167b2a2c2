"""The codec catalogue runs on Python 3.8 with numpy only (the recording path on device images)."""
import json
import os
import subprocess
import textwrap

import pytest

PY38 = os.environ.get("BMTRACE_PY38")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not PY38, reason="set BMTRACE_PY38 to a Python 3.8 with numpy+wrapt (scripts/test.sh does)")
def test_every_stdlib_and_numpy_codec_encodes_on_python38():
    """flatten encodes each stdlib/numpy kind on 3.8 without importing a framework."""
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from bmtrace import codecs
        values = [None, 1, 2 ** 70, 1.5, "s", b"b", np.zeros(2), np.ma.masked_array([1, 2], mask=[0, 1]),
                  {3, 1}, object(), {"k": [1, (2,)]}, np.float16(1)]
        kinds = [[leaf.kind for leaf in codecs.flatten(v, "v")] for v in values]
        assert not {"torch", "PIL", "pyarrow"} & {m.split(".")[0] for m in sys.modules}
        print(json.dumps(kinds))
    """)
    out = subprocess.run([PY38, "-c", code], env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == [["none"], ["scalar"], ["object"], ["scalar"], ["str"], ["bytes"], ["array"],
                               ["array"], ["object"], ["object"], ["scalar", "scalar"], ["scalar"]]
