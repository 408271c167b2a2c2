"""Optional dependencies load when a feature is used, with an error naming the pip extra."""
import importlib

from .errors import MissingDependencyError


def require(module, *, package=None, extra, feature):
    """Import an optional module or raise MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package or module, extra, feature) from None
