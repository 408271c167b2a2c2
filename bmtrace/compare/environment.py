"""What differs between the environments two runs were recorded in (versions, env vars, build)."""
from __future__ import annotations

_SCALAR_KEYS = ("python", "platform", "host", "executable")


def _build_text(build):
    """The recorder stores {"summary": [lines], "is_sophon": bool}; older notes may be plain text."""
    if isinstance(build, dict):
        return "\n".join(build.get("summary") or [])
    return build or ""


def _pair(a, b):
    return {"a": a, "b": b}


def environment_diff(meta_a, meta_b, build_lines=20):
    """Differences between two runs' ``meta`` dicts.

    Returns:
        ``{"versions": {name: {"a", "b"}}, "env": {name: {"a", "b"}}, "python"/"platform"/...:
        {"a", "b"} when they differ, "opencv_build": {"only_a": [...], "only_b": [...]}}``;
        a package or variable missing on one side shows as None there. Empty dicts mean "same".
    """
    meta_a = meta_a or {}
    meta_b = meta_b or {}
    out = {"versions": {}, "env": {}}
    for key in ("versions", "env"):
        side_a = meta_a.get(key) or {}
        side_b = meta_b.get(key) or {}
        for name in sorted(set(side_a) | set(side_b)):
            if side_a.get(name) != side_b.get(name):
                out[key][name] = _pair(side_a.get(name), side_b.get(name))
    for key in _SCALAR_KEYS:
        if meta_a.get(key) != meta_b.get(key):
            out[key] = _pair(meta_a.get(key), meta_b.get(key))
    build_a = _build_text(meta_a.get("opencv_build"))
    build_b = _build_text(meta_b.get("opencv_build"))
    if build_a != build_b:
        lines_a = [line.strip() for line in build_a.splitlines() if line.strip()]
        lines_b = [line.strip() for line in build_b.splitlines() if line.strip()]
        set_a, set_b = set(lines_a), set(lines_b)
        out["opencv_build"] = {
            "only_a": [line for line in lines_a if line not in set_b][:build_lines],
            "only_b": [line for line in lines_b if line not in set_a][:build_lines],
        }
    return out


def environment_lines(env):
    """Human-readable lines for the text report (empty when nothing differs)."""
    lines = []
    for name, pair in sorted(env.get("versions", {}).items()):
        lines.append("%s: %s (A) vs %s (B)" % (name, _show(pair["a"], "not loaded"),
                                               _show(pair["b"], "not loaded")))
    for key in _SCALAR_KEYS:
        if key in env and key != "host":
            lines.append("%s: %s (A) vs %s (B)" % (key, _show(env[key]["a"]), _show(env[key]["b"])))
    for name, pair in sorted(env.get("env", {}).items()):
        lines.append("$%s: %s (A) vs %s (B)" % (name, _show(pair["a"]), _show(pair["b"])))
    build = env.get("opencv_build")
    if build:
        lines.append("OpenCV build information differs (%d line(s) only in A, %d only in B)"
                     % (len(build["only_a"]), len(build["only_b"])))
    return lines


def _show(value, missing="not set"):
    return missing if value is None else str(value)
