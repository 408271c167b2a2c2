"""`import bmtrace` must stay light: device images have only numpy and wrapt."""
import json
import subprocess
import sys

ALLOWED_THIRD_PARTY = {"numpy", "wrapt", "bmtrace"}


def test_import_loads_only_stdlib_numpy_wrapt():
    """Importing bmtrace and calling a traced function with no run loads nothing beyond stdlib, numpy, wrapt."""
    # Compared with what the interpreter had before the import (site hooks may preload packages).
    code = ("import sys, json\n"
            "before = set(sys.modules)\n"
            "import bmtrace\n"
            "@bmtrace.trace_stage('s')\n"
            "def f(x): return x\n"
            "f(1)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout))
    third_party = {m for m in loaded if m not in sys.stdlib_module_names and not m.startswith("_")}
    assert third_party <= ALLOWED_THIRD_PARTY, third_party - ALLOWED_THIRD_PARTY
    assert "bmtrace" in third_party and "numpy" in third_party
    assert "subprocess" not in loaded  # 8 ms, for the index follower that only long runs start (index_ahead)
