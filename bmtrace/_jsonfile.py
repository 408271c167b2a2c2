"""Read a JSON file the user named on the command line, with an error that says which and how to fix it."""
import json

from .errors import UsageError


def read_json_file(path, option, remedy):
    """The parsed content of ``path``.

    Raises:
        UsageError: "cannot read OPTION PATH: reason", or "OPTION PATH is not JSON (...); REMEDY".
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise UsageError("cannot read %s %s: %s" % (option, path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise UsageError("%s %s is not JSON (%s); %s" % (option, path, exc, remedy)) from None
