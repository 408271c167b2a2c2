"""Per-process writer: payload files first, then one journal line per completed call."""
from __future__ import annotations

import errno
import os
import threading
import time
import uuid
from collections import OrderedDict

import numpy as np

from . import hashing, layout, schema
from .environment import process_snapshot

# Below this size a thread hand-off costs more than it saves.
_PARALLEL_BYTES = 1 << 20
# Content hashes of payloads written by this process, most recent first out: duplicates are nearly
# always recent (a stage's input is the previous stage's output), and memory stays flat in long runs.
_REMEMBERED_PAYLOADS = 4096


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
        self._journal_path = None
        self._journal_id = None  # (device, inode): a journal deleted or replaced mid-run is noticed
        self._payload_dir = None
        self._executor = None
        self._opened = None
        self._written = OrderedDict()  # content hash -> payload path relative to the run

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self):
        for sub in (layout.JOURNAL_DIR, layout.PROCS_DIR):
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        path = os.path.join(self.run_dir, layout.JOURNAL_DIR, self.token + ".jsonl")
        self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        info = os.fstat(self._journal_fd)
        self._journal_path, self._journal_id = path, (info.st_dev, info.st_ino)
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
        """Describe each leaf (stats, hash) and store its payload when asked; return JSON entries.

        Payloads are content-addressed within this process: an array whose content hash was already
        written (say, a stage input that is the previous stage's output) references that file.
        """
        entries = []
        if keep_payload:
            self.ensure_payload_dir()
        for offset, leaf in enumerate(leaves):
            arr = leaf.array
            wants_payload = keep_payload and arr is not None and schema.keeps_payload(leaf.kind)
            rel = "%s/%s/%d-%d.npy" % (layout.PAYLOAD_DIR, self.token, seq, start_index + offset)
            if arr is not None and arr.nbytes >= _PARALLEL_BYTES:
                entry, payload = self._store_large(leaf, arr, rel if wants_payload else None)
            else:
                entry = leaf.describe()
                payload = self._store(arr, entry.get("hash"), rel) if wants_payload else None
            entry["payload"] = payload
            if payload is None and role == "output" and arr is not None and schema.keeps_payload(leaf.kind):
                from ..codecs.sketch import sketch  # stats mode: a shape-determined sample for the diff;
                entry["sketch"] = sketch(arr)       # outputs only (an input is mostly an earlier output)
            if wants_payload and payload is None and self.cap_reached:
                entry["note"] = _join_note(entry.get("note"), "payload skipped: run payload cap of %d bytes reached"
                                           % self.payload_cap_bytes)
            entry["role"] = role
            entries.append(entry)
        return entries

    def _store_large(self, leaf, arr, rel):
        """Writing and describing (hash + statistics) each read the whole array and release the GIL:
        the write goes to a helper thread and the description is split in two halves. With the fast
        hash, the content hash is taken first so a duplicate is never written."""
        pending = None
        payload = None
        key = hashing.content_hash(arr) if rel is not None and hashing.algorithm() != hashing.SHA1 else None
        if key is not None:
            payload = self._known(key)
            if payload is None and self._payload_allowed(arr):
                pending = self._pool().submit(_save, os.path.join(self.run_dir, rel), arr)
        entry = leaf.describe(pool=self._pool(), parts=2)
        if pending is not None:
            pending.result()
            payload = rel
            self._remember(key, rel)
        elif rel is not None and key is None:  # SHA-1: too slow to hash twice; write after describing
            payload = self._store(arr, entry.get("hash"), rel)
        return entry, payload

    def _store(self, arr, key, rel):
        """Reference the payload already written with content hash ``key``, or write ``rel``."""
        known = self._known(key)
        if known is not None:
            return known
        if not self._payload_allowed(arr):
            return None
        _save(os.path.join(self.run_dir, rel), arr)
        self._remember(key, rel)
        return rel

    def _known(self, key):
        if key is None:
            return None
        with self._lock:
            rel = self._written.get(key)
            if rel is not None:
                self._written.move_to_end(key)
            return rel

    def _remember(self, key, rel):
        """Only called once the file is complete, so a reference never points at a partial payload."""
        if key is None:
            return
        with self._lock:
            self._written[key] = rel
            if len(self._written) > _REMEMBERED_PAYLOADS:
                self._written.popitem(last=False)

    def commit(self, record):
        """Append one completed call; a single write() so a kill never leaves half a record behind.

        Raises OSError when the journal file was deleted or replaced (writes would be lost).
        """
        record["hash_alg"] = hashing.algorithm()  # every hash of this process's records
        line = schema.call_line(record, default=_json_default)
        with self._lock:
            self._check_journal()
            written = os.write(self._journal_fd, line)
            while written < len(line):  # a short write (nearly full disk): finish the line or fail
                more = os.write(self._journal_fd, line[written:])
                if not more:
                    raise OSError(errno.ENOSPC, "no space left for a journal line", self._journal_path)
                written += more

    def _check_journal(self):
        try:
            info = os.stat(self._journal_path)
            same = (info.st_dev, info.st_ino) == self._journal_id
        except FileNotFoundError:
            same = False
        if not same:
            raise FileNotFoundError(errno.ENOENT, "the journal file was deleted or replaced during the run, so "
                                    "new records would be lost", self._journal_path)

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
