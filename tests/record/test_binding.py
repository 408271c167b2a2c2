"""Stage inputs are named exactly as inspect.Signature.bind names them, on the fast path for plain
parameters and on the general one, including calls that do not fit the signature."""
import inspect

import pytest

from bmtrace.api import _bind_arguments


def plain(a, b=2, c=None):
    pass


def method(self, x, y=1):
    pass


def varargs(a, *args, k=1, **kw):
    pass


def positional_only(a, /, b):
    pass


CALLS = [((1,), {}), ((1, 2), {}), ((1,), {"c": 3}), ((), {"a": 1}), ((1, 2, 3, 4), {}), ((1,), {"a": 2}),
         ((), {}), ((1,), {"zz": 1}), ((1, 2), {"b": 3}), ((1, 2), {"k": 5, "other": 6})]


def _reference(fn, skip_first, args, kwargs):
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:  # the call will raise: what was passed, by position
        named = {"args[%d]" % i: a for i, a in enumerate(args[1 if skip_first else 0:])}
        named.update(kwargs)
        return named
    bound.apply_defaults()
    named = dict(bound.arguments)
    if skip_first and named:
        named.pop(next(iter(named)))
    return named


@pytest.mark.parametrize("fn, skip_first", [(plain, False), (method, True), (varargs, False),
                                            (positional_only, False)])
def test_names_follow_signature_bind(fn, skip_first):
    cache = []  # what the decorator keeps per function
    for args, kwargs in CALLS:
        got = _bind_arguments(fn, cache, skip_first, args, kwargs)
        assert list(got.items()) == list(_reference(fn, skip_first, args, kwargs).items()), (args, kwargs)
