"""Fixtures for the diff tests; the helpers live in diff_helpers.py."""
import pytest

from .diff_helpers import make_pipeline, record


@pytest.fixture
def runs(tmp_path):
    """Factory: runs(name, samples, **make_pipeline options) -> run path."""

    def factory(name, samples=("a.jpg", "b.jpg", "c.jpg"), mode="full", side=None, **options):
        return record(tmp_path / name, samples, make_pipeline(**options), side=side or name,
                      mode=mode)

    return factory
