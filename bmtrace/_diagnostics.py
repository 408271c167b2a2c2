"""The one diagnostics channel: everything bmtrace tells the user outside its results.

Messages go to the ``bmtrace`` logger at WARNING. With no logging configured, Python's last-resort
handler prints them on stderr as the bare message ("bmtrace: ..."); a program that configures logging
gets them through its own handlers, and can silence them with
``logging.getLogger("bmtrace").setLevel(logging.ERROR)``. Findings of a diff are not messages: they are
part of its result (``DiffResult.warnings``), which the CLI prints.
"""
import logging

logger = logging.getLogger("bmtrace")


def notify(message):
    """Tell the user something went wrong or was skipped, without interrupting their program."""
    logger.warning("bmtrace: %s", message)


def debug(message, *args):
    """Detail for whoever turned on DEBUG logging for bmtrace."""
    logger.debug(message, *args)
