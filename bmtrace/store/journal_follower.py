"""The child process of ``index_ahead``: parses a growing journal part by part into the index build's
chunk tables (``journal_columns.next_chunk``), written as Arrow IPC files and listed in a manifest.

    python -m bmtrace.store.journal_follower JOURNAL FOLDER PART_BYTES POLL_SECONDS

Analysis side (pyarrow); started by ``index_ahead.follow``, never imported by the recording path.
"""
import json
import os
import sys
import threading

import pyarrow as pa

from . import index_ahead, journal_columns, layout


def follow_journal(journal, folder, part_bytes, poll_seconds):
    """Parse ``journal`` part by part as it grows, until killed (stop()) or orphaned."""
    orphaned = threading.Event()

    def wait_for_eof():
        try:
            sys.stdin.buffer.read()  # EOF: the recording process is gone
        finally:
            orphaned.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    try:
        os.nice(19)  # only idle CPU: the recording (and the rest of the machine) comes first
    except (AttributeError, OSError):  # no nice() on Windows
        pass
    name = os.path.join(layout.JOURNAL_DIR, os.path.basename(journal))
    recording = os.getppid()
    offset, line, number = 0, 1, 0
    with open(journal, "rb") as f, open(os.path.join(folder, index_ahead.MANIFEST), "a", encoding="utf-8") as manifest:
        while not orphaned.is_set() and os.getppid() == recording:  # its forks may keep the pipe open
            chunk = None
            if os.fstat(f.fileno()).st_size - offset >= part_bytes:
                problems = []
                chunk = journal_columns.next_chunk(f, offset, line, name, problems, size=part_bytes)
            if chunk is None:
                orphaned.wait(poll_seconds)
                continue
            calls, tensors, end, next_line = chunk
            files = {}
            for key, table in (("calls", calls), ("tensors", tensors)):
                files[key] = "%d.%s.arrow" % (number, key)
                _write_table(os.path.join(folder, files[key]), table)
            entry = dict(files, start=offset, end=end, first_line=line, next_line=next_line,
                         problems=[[number, message] for _, number, message in problems])
            manifest.write(json.dumps(entry) + "\n")  # after its files are complete: a listed part is whole
            manifest.flush()
            offset, line, number = end, next_line, number + 1


def _write_table(path, table):
    tmp = path + ".tmp"
    with pa.OSFile(tmp, "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    os.replace(tmp, path)


if __name__ == "__main__":
    follow_journal(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
