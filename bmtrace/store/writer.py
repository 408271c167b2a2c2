"""Per-process writer: payload files first, then one journal line per completed call."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid

import numpy as np

from . import layout
from .environment import process_snapshot

# Below this size a thread hand-off costs more than it saves.
_PARALLEL_BYTES = 1 << 20


class ProcessWriter:
    """Writes one process's records into a run directory; safe for the threads of that process."""

    def __init__(self, run_dir, payload_cap_bytes=None):
        self.run_dir = run_dir
        self.pid = os.getpid()
        self.token = "%d-%s" % (self.pid, uuid.uuid4().hex[:6])
        self.payload_cap_bytes = payload_cap_bytes
        self.payload_bytes = 0
        self.cap_reached = False
        self._seq = 0
        self._lock = threading.Lock()
        self._journal_fd = None
        self._payload_dir = None
        self._executor = None
        self._opened = None

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self):
        for sub in (layout.JOURNAL_DIR, layout.PROCS_DIR):
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        path = os.path.join(self.run_dir, layout.JOURNAL_DIR, self.token + ".jsonl")
        self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._opened = time.time()
        self.write_process_meta(closed=False)

    def write_process_meta(self, closed):
        snapshot = process_snapshot()
        snapshot.update({"writer": self.token, "opened": self._opened, "closed": closed,
                         "payload_bytes": self.payload_bytes})
        layout.write_json_atomic(os.path.join(self.run_dir, layout.PROCS_DIR, self.token + ".json"), snapshot)

    def close(self):
        if self._journal_fd is None:
            return
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        try:
            self.write_process_meta(closed=True)
        finally:
            os.close(self._journal_fd)
            self._journal_fd = None

    # -- records ---------------------------------------------------------------------------------
    def next_seq(self):
        with self._lock:
            self._seq += 1
            return self._seq

    def store_leaves(self, leaves, role, seq, start_index, keep_payload):
        """Describe each leaf (stats, hash) and write its payload when asked; return JSON entries."""
        entries = []
        if keep_payload:
            self.ensure_payload_dir()
        for offset, leaf in enumerate(leaves):
            arr = leaf.array
            wants_payload = keep_payload and arr is not None and leaf.kind in ("array", "bytes")
            if wants_payload and not self._payload_allowed(arr):
                wants_payload = False
            rel = None
            pending = []
            if wants_payload:
                rel = "%s/%s/%d-%d.npy" % (layout.PAYLOAD_DIR, self.token, seq, start_index + offset)
            if arr is not None and arr.nbytes >= _PARALLEL_BYTES:
                # Writing and describing (hash + statistics) each read the whole array and release
                # the GIL: the write goes to a helper thread, the description is split in two halves.
                if rel is not None:
                    pending.append(self._pool().submit(_save, os.path.join(self.run_dir, rel), arr))
                entry = leaf.describe(pool=self._pool(), parts=2)
            else:
                if rel is not None:
                    _save(os.path.join(self.run_dir, rel), arr)
                entry = leaf.describe()
            for future in pending:
                future.result()
            entry["payload"] = rel
            if rel is None and role == "output" and arr is not None and leaf.kind in ("array", "bytes"):
                from ..codecs.sketch import sketch  # stats mode: a shape-determined sample for the diff;
                entry["sketch"] = sketch(arr)       # outputs only (an input is mostly an earlier output)
            if keep_payload and rel is None and self.cap_reached and leaf.kind in ("array", "bytes"):
                entry["note"] = _join_note(entry.get("note"), "payload skipped: run payload cap of %d bytes reached"
                                           % self.payload_cap_bytes)
            entry["role"] = role
            entries.append(entry)
        return entries

    def commit(self, record):
        """Append one completed call; a single write() so a kill never leaves half a record behind."""
        line = (json.dumps(record, default=_json_default, allow_nan=True) + "\n").encode()
        with self._lock:
            os.write(self._journal_fd, line)

    # -- helpers ---------------------------------------------------------------------------------
    def _payload_allowed(self, arr):
        if self.payload_cap_bytes is None:
            return True
        with self._lock:
            if self.payload_bytes + arr.nbytes > self.payload_cap_bytes:
                self.cap_reached = True
                return False
            self.payload_bytes += arr.nbytes
            return True

    def _pool(self):
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            with self._lock:  # user threads may record their first large arrays at the same time
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bmtrace-writer")
        return self._executor

    def ensure_payload_dir(self):
        if self._payload_dir is None:
            payload_dir = os.path.join(self.run_dir, layout.PAYLOAD_DIR, self.token)
            os.makedirs(payload_dir, exist_ok=True)
            self._payload_dir = payload_dir  # only now, so other threads never write into a missing dir


def _save(path, arr):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, allow_pickle=False)


def _join_note(old, new):
    return new if not old else old + "; " + new


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)
