"""Test helpers: where a recorded tensor's bytes are on disk, and how to damage exactly those bytes.

A payload is a whole .npy file, or (small arrays) one .npy record of a writer's pack at an offset.
Import with ``from payload_files import ...`` (the tests folder is on sys.path under pytest).
"""
import os

import numpy as np


def payload_span(tensor):
    """``(path, start, end)``: the byte range of ``tensor``'s .npy record (header and data)."""
    path, start = tensor.call.run.payload_location(tensor.payload, tensor)
    with open(path, "rb") as f:
        f.seek(start)
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
        end = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return path, start, end


def stored_payloads(run_path):
    """Every payload stored on disk: .npy files, and each .npy record of the writers' packs."""
    payloads = os.path.join(str(run_path), "payloads")
    stored = []
    for folder, _, names in sorted(os.walk(payloads)):
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name.endswith(".npy"):
                stored.append(path)
            elif name.endswith(".npys"):
                with open(path, "rb") as f:
                    while f.tell() < os.path.getsize(path):
                        stored.append("%s#%d" % (path, f.tell()))
                        np.load(f)  # reads one record and leaves the file at the next
    return stored


def damage(tensor, how):
    """Damage ``tensor``'s payload: "deleted" (its file), "truncated" (its last 7 bytes and all after),
    "flipped" (one data byte) or "pickled" (replaced by a pickled object array). Returns the file."""
    path, start, end = payload_span(tensor)
    if how == "deleted":
        os.unlink(path)
        return path
    with open(path, "r+b") as f:
        if how == "truncated":
            f.truncate(end - 7)
        elif how == "flipped":
            f.seek(end - 3)
            byte = f.read(1)[0]
            f.seek(end - 3)
            f.write(bytes([byte ^ 1]))
        elif how == "pickled":
            f.seek(start)
            f.truncate()
            np.save(f, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
        else:
            raise ValueError(how)
    return path
