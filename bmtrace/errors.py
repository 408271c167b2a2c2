"""One error hierarchy. Every message says what went wrong, where, and how to fix it."""


class BmtraceError(Exception):
    """Base of every error bmtrace raises on purpose."""


class UsageError(BmtraceError):
    """The caller asked for something that cannot work (bad argument, bad option)."""


class RunExistsError(BmtraceError):
    """A run directory already holds records and overwrite was not requested."""


class RunNotFoundError(BmtraceError):
    """A path does not hold a bmtrace run."""


class FormatVersionError(BmtraceError):
    """A run was written by a newer bmtrace whose format this one cannot read."""


class StoreError(BmtraceError):
    """Writing to the run directory failed (full disk, no permission); raised only in strict mode."""


class AlignmentError(BmtraceError):
    """Two runs share nothing that can be paired."""


class ReplayError(BmtraceError):
    """A stage function could not be imported or called with the recorded inputs."""


class UntrustedCodeError(ReplayError):
    """A trace names code outside the user's own source files; it runs only with --trust-recorded."""


class PackError(BmtraceError):
    """A packed run cannot be written, or an archive fails its checks (checksum, unsafe member, no manifest)."""


class BmodelError(BmtraceError):
    """A .bmodel file is missing, truncated, encrypted or not a bmodel."""


class ImportDataError(BmtraceError):
    """Raw dumps or hand-saved files do not match what their metadata says."""


class MissingDependencyError(BmtraceError, ImportError):
    """An optional package is needed for this feature and is not installed."""

    def __init__(self, package, extra, feature):
        self.package = package
        self.extra = extra
        super().__init__(
            "%s needs the package %r, which is not installed; install it with "
            "`pip install 'bmtrace[%s]'` (or `pip install %s`)" % (feature, package, extra, package)
        )


class PayloadMissingError(BmtraceError):
    """A tensor was recorded without its payload (stats mode, or the payload cap was reached)."""


class CorruptRunError(RunNotFoundError):
    """A run's run.json is damaged or not bmtrace's; the message names the file and how to fix it."""


class PayloadPathError(BmtraceError):
    """A journal names a payload outside its run directory; refused, since a trace is untrusted data."""


class PayloadCorruptError(BmtraceError):
    """A payload file is unreadable, truncated or does not match its recorded content hash."""
