"""The status vocabulary: every status word, its rank, its display word and its severity, in one table.

Tensor pairs land on the metric ladder (equal, close, similar, diverged) or on a structural outcome
(shape mismatch, only on one side, error, unverified); stage entries, stage rows and the whole run
are judged by the worst status they contain. Renderers (text, JSON, HTML) and the exit code all read
this table, so a stage can never be called one thing in the table and another in the report.
"""
from __future__ import annotations


class Status:
    """Status words used in results and in the JSON document (the values are a contract)."""

    # tensor pairs: the metric ladder, then structural outcomes
    EQUAL = "equal"              # bit-identical (same dtype, shape and values)
    CLOSE = "close"              # within tolerance
    REPRESENTED = "equal_under_representation"  # B is exactly A in another representation (BGR, CHW, /255)
    SIMILAR = "similar"          # float pair out of tolerance but cosine >= threshold: a warning
    UNVERIFIED = "unverified"    # stats-mode records whose contents differ but whose statistics agree
    DIVERGED = "diverged"
    SHAPE_MISMATCH = "shape_mismatch"
    # tensor pairs and stage entries
    ONLY_IN_A = "only_in_a"
    ONLY_IN_B = "only_in_b"
    ERROR = "error"
    # stage entries, stage rows and runs
    ALIGNED = "aligned"
    # out of tolerance, but within a known difference the user accepted (bmtrace.diff.accept)
    ACCEPTED = "accepted"

    PASSING = frozenset([EQUAL, CLOSE, REPRESENTED, ALIGNED, ACCEPTED])
    LADDER = (EQUAL, CLOSE, SIMILAR, DIVERGED)


# status -> (rank: lower is worse, display word, severity). Severity groups the statuses for colours
# and exit codes: "ok" passes, "warn" is reported but not a failure, "missing" and "bad" fail.
_TABLE = {
    Status.ERROR: (0, "ERROR", "error"),
    Status.DIVERGED: (1, "DIVERGED", "bad"),
    Status.SHAPE_MISMATCH: (1, "DIVERGED", "bad"),
    Status.ONLY_IN_A: (2, "only in A", "missing"),
    Status.ONLY_IN_B: (2, "only in B", "missing"),
    Status.SIMILAR: (3, "similar", "warn"),
    Status.UNVERIFIED: (4, "unverified", "warn"),
    Status.ACCEPTED: (4.5, "accepted", "ok"),  # passes, but shown over plain "aligned"
    Status.CLOSE: (5, "close", "ok"),
    Status.REPRESENTED: (5, "equal under representation", "ok"),
    Status.ALIGNED: (5, "aligned", "ok"),
    Status.EQUAL: (6, "equal", "ok"),
}
_UNKNOWN = (3, "unknown", "warn")

# Stage statuses: a stage entry (one call pair) takes the worst of its tensors, mapped here.
STAGE_STATUSES = (Status.ALIGNED, Status.ACCEPTED, Status.UNVERIFIED, Status.SIMILAR, Status.DIVERGED, Status.ONLY_IN_A,
                  Status.ONLY_IN_B, Status.ERROR)
# An output present on one side only is a structural divergence of the call, not a missing call.
_TENSOR_TO_STAGE = {Status.EQUAL: Status.ALIGNED, Status.CLOSE: Status.ALIGNED, Status.REPRESENTED: Status.ALIGNED,
                    Status.SHAPE_MISMATCH: Status.DIVERGED, Status.ONLY_IN_A: Status.DIVERGED,
                    Status.ONLY_IN_B: Status.DIVERGED}

# Run verdicts, worst first, with their exit codes (see bmtrace.cli).
VERDICT_ALIGNED, VERDICT_MISSING, VERDICT_DIVERGED, VERDICT_ERROR = "ALIGNED", "NOT ALIGNED", "DIVERGED", "ERROR"
EXIT_ALIGNED, EXIT_DIVERGED, EXIT_ERROR, EXIT_WARNING = 0, 1, 2, 3


def rank(status):
    """Lower is worse; unknown statuses rank as a warning."""
    return _TABLE.get(status, _UNKNOWN)[0]


def word(status):
    """The word a table or page shows for a status."""
    return _TABLE.get(status, _UNKNOWN)[1]


def severity(status):
    """"ok", "warn", "missing", "bad" or "error"."""
    return _TABLE.get(status, _UNKNOWN)[2]


def worst(statuses, default=Status.ALIGNED):
    """The worst of ``statuses`` (``default`` when there are none)."""
    statuses = list(statuses)
    return min(statuses, key=rank) if statuses else default


def stage_status(tensor_status):
    """The stage-entry status a tensor status amounts to (equal/close -> aligned, shape -> diverged)."""
    return _TENSOR_TO_STAGE.get(tensor_status, tensor_status)


def passes(status):
    """True for statuses that count as agreement."""
    return severity(status) == "ok"


def verdict_word(status):
    """The run verdict for the worst stage status: ALIGNED, SIMILAR, UNVERIFIED, NOT ALIGNED (calls
    missing on one side, nothing diverged), DIVERGED or ERROR."""
    sev = severity(status)
    if sev == "ok":
        return VERDICT_ALIGNED
    if sev == "warn":
        return word(status).upper()
    if sev == "error":
        return VERDICT_ERROR
    if sev == "missing":
        return VERDICT_MISSING
    return VERDICT_DIVERGED


def exit_code(status):
    """Exit code of ``bmtrace diff`` for the worst stage status: 0 aligned, 1 diverged or missing,
    3 when nothing is worse than similar/unverified. Errors inside a run (a stage that raised in one
    program) are a divergence of behaviour: 1. (2 is reserved for errors of bmtrace itself.)"""
    sev = severity(status)
    if sev == "ok":
        return EXIT_ALIGNED
    if sev == "warn":
        return EXIT_WARNING
    return EXIT_DIVERGED
