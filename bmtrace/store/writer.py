"""Per-process writer: payload files first, then one journal line per completed call."""
from __future__ import annotations

import errno
import io
import os
import threading
import time
import uuid
from collections import OrderedDict

import numpy as np

from . import hashing, index_ahead, layout, schema
from ..codecs.stats import describe_array, scanned_in_place
from .environment import process_snapshot

# Below this size a thread hand-off costs more than it saves.
_PARALLEL_BYTES = 1 << 20
# Content hashes recorded by this process, least recently used first out: duplicates are nearly
# always recent (a stage's input is the previous stage's output), and memory stays flat in long runs.
_REMEMBERED_PAYLOADS = 4096


class ProcessWriter:
    """Writes one process's records into a run directory; safe for the threads of that process."""

    def __init__(self, run_dir, payload_cap_bytes=None, follow_journal=False):
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
        self._pack_lock = threading.Lock()
        self._pack_fd = None  # this writer's pack of small payloads, opened at the first one
        self._pack_rel = None
        self._pack_size = 0
        self._written = OrderedDict()  # content hash -> _Seen, most recently used last
        self._by_memory = OrderedDict()  # memory key of a non-contiguous array -> its content hash
        # the journal's index parsed as it grows, once it is long enough to be worth it (index_ahead.py)
        self.follower = None
        self._journal_bytes = 0
        self._follow_at = index_ahead.START_BYTES if follow_journal else float("inf")

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
            if self._pack_fd is not None:
                os.close(self._pack_fd)
                self._pack_fd = None

    # -- records ---------------------------------------------------------------------------------
    def next_seq(self):
        with self._lock:
            self._seq += 1
            return self._seq

    def store_leaves(self, leaves, role, seq, start_index, keep_payload):
        """Describe each leaf (stats, hash) and store its payload when asked; return JSON entries.

        Content this process already recorded (say, a stage input that is the previous stage's
        output) is neither described nor written again: with the fast hash, the hash is taken first
        and the earlier description and payload file are reused.
        """
        entries = []
        if keep_payload:
            self.ensure_payload_dir()
        hash_first = hashing.algorithm() != hashing.SHA1  # SHA-1 is too slow to read the data twice
        for offset, leaf in enumerate(leaves):
            arr = leaf.array
            wants_payload = keep_payload and arr is not None and schema.keeps_payload(leaf.kind)
            wants_sketch = not keep_payload and role == "output" and arr is not None and schema.keeps_payload(leaf.kind)
            if arr is None:
                entry, payload = leaf.describe(), None
            else:
                # Stats mode reads a large array once as it is (hash, min/max, sample: scanned_in_place);
                # an output, rarely seen before, is hashed in that pass rather than first.
                in_place = not keep_payload and scanned_in_place(arr)
                deferred = hash_first and in_place and role == "output"
                if not arr.flags.c_contiguous and not in_place:  # one copy, read by the hash, statistics,
                    arr = leaf.array = arr.copy(order="C")       # sketch and write
                rel = ("%s/%s/%d-%d.npy" % (layout.PAYLOAD_DIR, self.token, seq, start_index + offset)
                       if wants_payload else None)
                memory = _memory_key(arr) if hash_first and in_place and not arr.flags.c_contiguous else None
                key = None
                if hash_first and not deferred:
                    key = self._hash_by_memory(memory) or hashing.content_hash(arr)
                entry, payload = self._store_array(leaf, arr, rel, wants_sketch, key, sampled=not keep_payload,
                                                   deferred=deferred)
                if memory is not None:
                    self._remember_memory(memory, entry["hash"])
            entry["payload"] = payload
            if wants_payload and payload is None and self.cap_reached:
                entry["note"] = _join_note(entry.get("note"), "payload skipped: run payload cap of %d bytes reached"
                                           % self.payload_cap_bytes)
            entry["role"] = role
            entries.append(entry)
        return entries

    def _store_array(self, leaf, arr, rel, wants_sketch, key, sampled, deferred=False):
        """``(entry, payload)`` of an array leaf; ``rel`` is where its payload goes (None: not kept),
        ``key`` its content hash when already taken (None with SHA-1, which is hashed while describing),
        ``sampled`` whether stats-mode statistics will do, ``deferred`` whether the fast hash was left
        to the description (content seen before is then recorded as if it had been hashed first)."""
        seen = self._known(key)
        if seen is not None and not sampled and "stats_sample" in seen.stats:
            seen = None  # described in stats mode; a full-mode record gets exact statistics
        written = False
        if seen is not None:  # same dtype, shape and bytes: same statistics, sketch and payload
            entry = leaf.describe(described=(key, seen.stats))
        else:
            # A large array is written on a helper thread while its description is split in two
            # halves: both read the whole array and release the GIL.
            large = arr.nbytes >= _PARALLEL_BYTES
            pending = None
            if large and rel is not None and key is not None and self._payload_allowed(arr):
                pending = self._pool().submit(_save, os.path.join(self.run_dir, rel), arr)
            digest, stats = describe_array(arr, pool=self._pool() if large else None, parts=2 if large else 1,
                                           want_hash=key is None, sampled=sampled)
            entry = leaf.describe(described=(key or digest, stats))
            if pending is not None:
                pending.result()
                written = True
            elif key is None:
                seen = self._known(entry.get("hash"))  # SHA-1: an earlier identical payload can still serve
                if seen is not None and deferred:
                    entry = leaf.describe(described=(digest, seen.stats))
        payload = rel if written else (seen.payload if seen is not None else None)
        if rel is not None and payload is None and self._payload_allowed(arr):
            payload = self._write_payload(arr, rel)
        if wants_sketch:
            if seen is not None and seen.sketch is not None:
                entry["sketch"] = seen.sketch
            else:
                from ..codecs.sketch import sketch  # stats mode: a shape-determined sample for the diff;
                entry["sketch"] = sketch(arr)       # outputs only (an input is mostly an earlier output)
        if seen is None:  # stats: this content's statistics (describe_array's dict, read-only from here)
            self._remember(entry["hash"], _Seen(stats, payload, entry.get("sketch")))
        else:
            seen.payload = seen.payload or payload
            seen.sketch = seen.sketch or entry.get("sketch")
        return entry, payload

    def _known(self, key):
        """What this process recorded of content ``key`` (a ``_Seen``), or None."""
        if key is None:
            return None
        with self._lock:
            seen = self._written.get(key)
            if seen is not None:
                self._written.move_to_end(key)
            return seen

    def _remember(self, key, seen):
        """Only called once the payload file is complete, so a reference never points at a partial one."""
        if key is None:
            return
        with self._lock:
            self._written[key] = seen
            if len(self._written) > _REMEMBERED_PAYLOADS:
                self._written.popitem(last=False)

    def _hash_by_memory(self, memory):
        """The content hash of the array whose memory key is ``memory``, when recorded before."""
        if memory is None:
            return None
        with self._lock:
            return self._by_memory.get(memory)

    def _remember_memory(self, memory, content_hash):
        with self._lock:
            self._by_memory[memory] = content_hash
            self._by_memory.move_to_end(memory)
            if len(self._by_memory) > _REMEMBERED_PAYLOADS:
                self._by_memory.popitem(last=False)

    def commit(self, record):
        """Append one completed call; a single write() so a kill never leaves half a record behind.

        Raises OSError when the journal file was deleted or replaced (writes would be lost).
        """
        record["hash_alg"] = hashing.algorithm()  # every hash of this process's records
        line = schema.call_line(record, _LINE_ENCODER)
        with self._lock:
            self._check_journal()
            _write_all(self._journal_fd, line, self._journal_path)
            self._journal_bytes += len(line)
            follow = self._journal_bytes >= self._follow_at
            if follow:
                self._follow_at = float("inf")
        if follow:
            self._start_follower()

    def _start_follower(self):
        try:
            self.follower = index_ahead.follow(self.run_dir, self.token, self._journal_path, self._journal_id)
        except Exception:  # only a speed-up of stop(): without it, stop() parses the whole journal
            self.follower = None

    def _check_journal(self):
        try:
            info = os.stat(self._journal_path)
            same = (info.st_dev, info.st_ino) == self._journal_id
        except FileNotFoundError:
            same = False
        if not same:
            raise FileNotFoundError(errno.ENOENT, "the journal file was deleted or replaced during the run, so "
                                    "new records would be lost", self._journal_path)

    # -- payload files ---------------------------------------------------------------------------
    def _write_payload(self, arr, rel):
        """Write ``arr`` and return its reference: ``rel`` (a .npy file of its own), or, for a small
        array, ``<pack>#<offset>`` in this writer's pack of .npy records."""
        if arr.nbytes > layout.PACK_MAX_BYTES:
            _save(os.path.join(self.run_dir, rel), arr)
            return rel
        record = _npy_record(arr)
        with self._pack_lock:  # offsets are handed out in write order
            if self._pack_fd is None:
                self._pack_rel = "%s/%s/%s" % (layout.PAYLOAD_DIR, self.token, layout.PACK_FILE)
                self._pack_fd = os.open(os.path.join(self.run_dir, self._pack_rel),
                                        os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._pack_size = os.fstat(self._pack_fd).st_size
            offset = self._pack_size
            _write_all(self._pack_fd, record, self._pack_rel)
            self._pack_size += len(record)
        return "%s#%d" % (self._pack_rel, offset)

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


class _Seen:
    """What was recorded of one content hash: its statistics, payload file (or None) and sketch."""

    __slots__ = ("stats", "payload", "sketch")

    def __init__(self, stats, payload, sketch):
        self.stats, self.payload, self.sketch = stats, payload, sketch


def _memory_key(arr):
    """A key for a non-contiguous array whose elements fill one block of memory in another axis order
    (a transposed or permuted array: a CHW view of HWC data), or None: the fast hash of that block in
    memory order, with the shape and strides that map it to the array. The same key means the same
    array, so a stage input that is an earlier output is found without gathering it into C order
    (about 4x slower than hashing memory in order)."""
    if arr.ndim < 2 or min(arr.strides) <= 0:
        return None
    order = sorted(range(arr.ndim), key=lambda axis: -arr.strides[axis])
    dense = arr.transpose(order)
    if not dense.flags.c_contiguous:
        return None
    return hashing.content_hash(dense), arr.shape, arr.strides


def _write_all(fd, data, where):
    """One write() (so a kill leaves a whole line or none); a short write (nearly full disk) is
    finished or fails."""
    written = os.write(fd, data)
    while written < len(data):
        more = os.write(fd, data[written:])
        if not more:
            raise OSError(errno.ENOSPC, "no space left on the device", where)
        written += more


_headers = {}  # (dtype, shape) -> .npy header bytes: a small record's header costs more than its data


def _npy_record(arr):
    """``arr`` as the bytes of a .npy file (C order), readable with np.load at its offset."""
    if arr.dtype.hasobject:
        raise ValueError("object arrays are not stored: loading them would need pickle")
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # not np.ascontiguousarray: it makes a 0-d array 1-d
    key = (arr.dtype, arr.shape)
    header = _headers.get(key)
    if header is None:
        fields = np.lib.format.header_data_from_array_1_0(arr)
        buffer = io.BytesIO()
        try:
            np.lib.format.write_array_header_1_0(buffer, fields)
        except ValueError:  # a header over 64 KB (many structured fields) needs version 2.0
            buffer = io.BytesIO()
            np.lib.format.write_array_header_2_0(buffer, fields)
        header = buffer.getvalue()
        if len(_headers) < 1024:
            _headers[key] = header
    return header + arr.tobytes()


def _save(path, arr):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, allow_pickle=False)


def _join_note(old, new):
    return new if not old else old + "; " + new


def _json_default(value):
    """JSON for what the leaves may still hold: numpy scalars and arrays, sets; anything else as repr."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


_LINE_ENCODER = schema.line_encoder(_json_default)
