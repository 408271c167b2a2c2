"""What a diff looks at: stage and sample selection, one-sided samples, fail-fast, and option checks.

``Selection`` is built from the keyword options of ``bmtrace.diff`` (the CLI passes the same ones), is
checked before any run is opened (bad values are a UsageError), narrows the alignment's call pairs,
and after the comparison says in the result what it left out, so a narrowed diff never reads as a
full one.
"""
from __future__ import annotations

import fnmatch
import os

from ..compare.status import Status, severity
from ..errors import UsageError
from .align import MISSING

FAIL_STATUSES = ("bad", "error")


def _names(value, option):
    """A list of stage names from ``"a,b"``, a list of such strings, or None."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    names = []
    for item in items:
        if not isinstance(item, str):
            raise UsageError("%s expects stage names, got %r" % (option, item))
        names.extend(n.strip() for n in item.split(",") if n.strip())
    if not names:
        raise UsageError("%s expects a comma-separated list of stage names, got %r" % (option, value))
    return names


def read_sample_file(path):
    """Sample keys from a file, one per line (blank lines and ``#`` comments skipped)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UsageError("cannot read the sample list --samples @%s: %s" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise UsageError("--samples @%s is not UTF-8 text; write one sample key per line" % path) from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise UsageError("--samples @%s lists no sample keys; write one sample key per line" % path)
    return keys


class SampleFilter:
    """Sample keys to keep: glob patterns (``"img_0*.jpg"``), exact keys from ``@FILE``, or a list."""

    def __init__(self, spec):
        self.spec = spec
        self.patterns, self.exact = [], set()
        if isinstance(spec, (str, os.PathLike)):
            text = os.fspath(spec)
            if text.startswith("@"):
                self.exact = set(read_sample_file(text[1:]))
            else:
                self.patterns = [text]
        else:
            for item in spec:
                self.exact.add(str(item))
        if not self.patterns and not self.exact:
            raise UsageError("--samples expects a glob pattern, @FILE or a list of sample keys")

    def keeps(self, key):
        """True when sample ``key`` is selected (None, the key of unkeyed records, is matched as "None")."""
        text = str(key)
        return text in self.exact or any(fnmatch.fnmatchcase(text, p) for p in self.patterns)

    def describe(self):
        return "--samples %s" % (self.patterns[0] if self.patterns else "(%d keys)" % len(self.exact))


class Selection:
    """The selection options of one diff.

    Args:
        stages: stage names (A's names) to compare, as a list or ``"a,b"``; None for all.
        skip_stages: stage names to leave out.
        samples: glob pattern, ``"@FILE"`` (one key per line) or a list of keys; None for all.
        allow_missing: samples recorded on one side only are reported, not failed.
        fail_fast: stop at the first diverged (or errored) call pair.
    """

    def __init__(self, stages=None, skip_stages=None, samples=None, allow_missing=False, fail_fast=False):
        self.stages = _names(stages, "--stages")
        self.skip_stages = _names(skip_stages, "--skip-stages")
        self.samples = SampleFilter(samples) if samples is not None else None
        self.allow_missing = bool(allow_missing)
        self.fail_fast = bool(fail_fast)
        self.stopped = None

    @property
    def narrows(self):
        """True when some stages or samples are left out on purpose."""
        return bool(self.stages or self.skip_stages or self.samples)

    def keeps_stage(self, name):
        if self.stages is not None and name not in self.stages:
            return False
        return not (self.skip_stages and name in self.skip_stages)

    def check_names(self, known, notes):
        """Warn about --stages / --skip-stages names that no run has."""
        for option, names in (("--stages", self.stages), ("--skip-stages", self.skip_stages)):
            unknown = [n for n in names or () if n not in known]
            if unknown:
                notes.append(unknown_stage_note(option, unknown, known))

    def apply(self, alignment, notes):
        """Narrow ``alignment`` in place to the selected stages and samples.

        Raises:
            UsageError: the selection leaves nothing to compare.
        """
        before = len(alignment.pairs)
        if self.samples is not None:
            kept = [(a, b) for a, b in alignment.sample_pairs
                    if self.samples.keeps(a if a is not MISSING else b)]
            if not kept:
                shown = ", ".join(str(a if a is not MISSING else b) for a, b in alignment.sample_pairs[:8])
                raise UsageError("%s matches none of the %d sample(s) (e.g. %s); sample keys are matched "
                                 "as text, with * and ? as wildcards" % (
                                     self.samples.describe(), len(alignment.sample_pairs), shown or "none"))
            alignment.sample_pairs = kept
        alignment.pairs = [p for p in alignment.pairs if self.keeps_stage(p.stage)
                           and (self.samples is None or self.samples.keeps(p.sample))]
        alignment.stage_order = [s for s in alignment.stage_order if self.keeps_stage(s)]
        if not alignment.pairs:
            raise UsageError("the selection leaves no stage call to compare (stages left: %s)"
                             % (", ".join(alignment.stage_order) or "none"))
        if self.narrows:
            notes.append("selection: compared %d of %d stage call(s)%s%s%s" % (
                len(alignment.pairs), before,
                "; stages %s" % ",".join(self.stages) if self.stages else "",
                "; skipped stages %s" % ",".join(self.skip_stages) if self.skip_stages else "",
                "; %s" % self.samples.describe() if self.samples else ""))

    def should_stop(self, entry):
        """True when fail-fast is on and ``entry`` diverged or errored."""
        return self.fail_fast and entry.paired and severity(entry.status) in FAIL_STATUSES

    def stop(self, entry, compared, total, notes):
        """Record where fail-fast stopped."""
        self.stopped = {"reason": "fail_fast", "compared": compared, "total": total,
                        "stage": entry.stage, "sample": entry.sample}
        notes.append("stopped at the first divergence (--fail-fast): %d of %d stage call(s) compared; "
                     "stages after it are not judged" % (compared, total))

    def finish(self, result):
        """Apply --allow-missing to the result and record fail-fast; called once the entries exist."""
        if self.stopped is not None:
            result.stopped_early = self.stopped
        if not self.allow_missing:
            return
        one_sided = set(result.samples.get("only_in_a") or ()) | set(result.samples.get("only_in_b") or ())
        if not one_sided:
            return
        missing = (Status.ONLY_IN_A, Status.ONLY_IN_B)
        dropped = [e for e in result.stages if e.status in missing and e.sample in one_sided]
        result.stages = [e for e in result.stages if not (e.status in missing and e.sample in one_sided)]
        result.samples["missing_allowed"] = True
        result.warnings.append("%d sample(s) recorded on one side only were not compared and do not fail the "
                               "diff (--allow-missing): %d only in A, %d only in B (%d stage call(s))" % (
                                   len(one_sided), len(result.samples.get("only_in_a") or ()),
                                   len(result.samples.get("only_in_b") or ()), len(dropped)))


def unknown_stage_note(option, unknown, known):
    """The warning for stage names no run has, listing the known ones."""
    return "%s names unknown stage(s) %s; the runs' stages are: %s" % (
        option, ", ".join(unknown), ", ".join(known) or "none")


def known_stage(key, known):
    """True when ``key`` is a known stage or ``STAGE.TENSOR`` of one (stage names may hold dots)."""
    return key in known or any(key.startswith(stage + ".") for stage in known)


def check_rules(rules):
    """Reject cosine thresholds outside [-1, 1] (other figures are checked by ToleranceRules).

    Raises:
        UsageError: naming the option and the allowed range.
    """
    found = [("--cosine", settings.get("cosine")) for settings in (rules.float_settings, rules.int_settings)]
    found += [("tolerance for %r: cosine" % key, value.get("cosine")) for key, value in rules.overrides.items()]
    for what, value in found:
        if value is not None and not -1.0 <= value <= 1.0:
            raise UsageError("%s must be between -1 and 1 (a cosine similarity), got %g; e.g. --cosine 0.99"
                             % (what, value))


def check_tolerance_names(rules, known, notes):
    """Warn about tolerance overrides whose stage no run has."""
    unknown = sorted(k for k in rules.overrides if not known_stage(k, known))
    if unknown:
        notes.append(unknown_stage_note("--tol", unknown, known))
