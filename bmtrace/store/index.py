"""The Parquet index: one row per tensor, queryable by pyarrow, DuckDB or pandas without bmtrace.

Built explicitly (at the end of a recording, by ``build_index``); opening a run never writes it.
The columns are ``schema.INDEX_COLUMNS``.
"""
from __future__ import annotations

import json
import os

from .._deps import require
from ..errors import MissingDependencyError
from . import index_ahead, layout
from .reader import Run
from .schema import INDEX_COLUMNS

_FINGERPRINT_KEY = layout.INDEX_FINGERPRINT_KEY
# index.parquet metadata key: what `bmtrace show` counts beyond the rows (calls, errors, skipped lines)
SUMMARY_KEY = b"bmtrace_summary"


def build_table(run):
    """All tensors of ``run`` (a reader ``Run``) as a pyarrow Table (the index.parquet schema)."""
    require("pyarrow", extra="analysis", feature="the Parquet index")
    from .journal_columns import run_index

    return run_index(run)[0]


def build_index(path, force=False, follower=None):
    """Write RUN/index.parquet from the journals unless it is already up to date; returns its path.

    follower: the recording's ``index_ahead.Follower``, whose parts spare parsing its journal again.
    The parts of every follower are removed once the index is up to date.

    Raises:
        MissingDependencyError: pyarrow is not installed.
        RunNotFoundError, CorruptRunError, FormatVersionError: ``path`` is not a readable run.
        OSError: the run directory is not writable.
    """
    pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet index")
    run = path if isinstance(path, Run) else Run(path)
    index_path = os.path.join(run.path, layout.INDEX_FILE)
    stamp = fingerprint(run.path)
    if not force and _stored_fingerprint(pq, index_path) == stamp:
        index_ahead.remove_parts(run.path)
        return index_path
    from .journal_columns import run_index  # pyarrow, present: checked above

    table, summary = run_index(run, follower)
    metadata = dict(table.schema.metadata or {})
    metadata.update({_FINGERPRINT_KEY: stamp.encode(),
                     b"bmtrace_format_version": str(layout.FORMAT_VERSION).encode()})
    if summary is not None:
        metadata[SUMMARY_KEY] = json.dumps(summary).encode()
    table = table.replace_schema_metadata(metadata)
    tmp = "%s.tmp-%d" % (index_path, os.getpid())
    try:
        pq.write_table(table, tmp, use_dictionary=_DICTIONARY_COLUMNS)
        os.replace(tmp, index_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)  # never leave a half-written index behind
    index_ahead.remove_parts(run.path)
    return index_path


fingerprint = layout.journals_fingerprint

# Columns with few distinct values: dictionary-encoded. Per-call or per-tensor values (ids, hashes,
# times, statistics) would only fill a dictionary to throw it away (40% of the write at 100k samples).
_DICTIONARY_COLUMNS = [column for column, typ in INDEX_COLUMNS
                       if typ == "string" and column not in ("call_id", "hash", "payload", "value", "error_message")]


def index_is_fresh(path):
    """Whether RUN/index.parquet exists and was built from the journals as they are now."""
    pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet index")
    return _stored_fingerprint(pq, os.path.join(path, layout.INDEX_FILE)) == fingerprint(path)


def read_fresh(path, columns):
    """``(table of those columns, summary)`` from RUN/index.parquet when it is up to date with the
    journals and holds the summary ``build_index`` stores; None otherwise (or without pyarrow).

    The few-valued string columns come as the dictionary arrays the file stores (same values: decoding
    them to one string per row would cost a third of the read)."""
    try:
        pq = require("pyarrow.parquet", package="pyarrow", extra="analysis", feature="the Parquet index")
    except MissingDependencyError:
        return None
    index_path = os.path.join(path, layout.INDEX_FILE)
    if not os.path.isfile(index_path):
        return None
    try:
        stored = pq.read_schema(index_path)
        metadata = stored.metadata or {}
        if (metadata.get(_FINGERPRINT_KEY) != fingerprint(path).encode() or SUMMARY_KEY not in metadata
                or stored.names != [column for column, _ in INDEX_COLUMNS]):
            return None
        # ParquetFile, not read_table: that imports pyarrow.dataset and pandas (half a second)
        dictionaries = [column for column in columns if column in _DICTIONARY_COLUMNS]
        return (pq.ParquetFile(index_path, read_dictionary=dictionaries).read(columns=list(columns)),
                json.loads(metadata[SUMMARY_KEY]))
    except Exception:  # a damaged or foreign index: the journals are the source of truth
        return None


def python_values(column):
    """A column of ``read_fresh``'s table as a list of Python values. A dictionary column is decoded
    by its codes: its ``to_pylist`` makes a scalar object per row (three times slower at 100k samples)."""
    out = []
    for chunk in column.chunks:
        if hasattr(chunk, "dictionary"):
            values = chunk.dictionary.to_pylist()
            out.extend(values[code] if code is not None else None for code in chunk.indices.to_pylist())
        else:
            out.extend(chunk.to_pylist())
    return out


def _stored_fingerprint(pq, index_path):
    if not os.path.exists(index_path):
        return None
    try:
        metadata = pq.read_schema(index_path).metadata or {}
    except Exception:  # a damaged index is rebuilt
        return None
    return metadata.get(_FINGERPRINT_KEY, b"").decode(errors="replace")


def main(paths):
    """`python -m bmtrace.store.index RUN...`: (re)build the index of finished runs; 0 when all built."""
    import sys

    from ..errors import BmtraceError

    status = 0
    for path in paths:
        try:
            print(build_index(path))
        except (BmtraceError, OSError) as exc:
            print("bmtrace: cannot build the index of %s: %s" % (path, exc), file=sys.stderr)
            status = 2
    return status


def build_index_if_available(path, follower=None):
    """Write RUN/index.parquet when pyarrow is installed; returns its path or None without pyarrow.

    Errors other than a missing pyarrow propagate (the caller reports them).
    """
    try:
        return build_index(path, follower=follower)
    except MissingDependencyError:
        return None  # devices record without pyarrow; `bmtrace.store.index.build_index` builds it later


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
