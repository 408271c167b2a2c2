"""The Hint value: validation and JSON form."""
import json

import numpy as np
import pytest

from bmtrace.explain import CAUSES, Hint


def test_to_json_has_exactly_the_contract_keys():
    """to_json returns cause, message, confidence, residual and details, nothing else."""
    hint = Hint("layout", "transpose it", 0.5, 0.0, {})
    assert set(hint.to_json()) == {"cause", "message", "confidence", "residual", "details"}


def test_numpy_values_in_details_become_json():
    """numpy scalars, arrays and tuples in details survive json.dumps."""
    hint = Hint("normalization", "m", np.float32(0.7), np.float64(1.5),
                {"alpha": np.array([1.0, 2.0]), "n": np.int64(3), "pair": (1, 2), "ok": np.bool_(True)})
    data = json.loads(json.dumps(hint.to_json()))
    assert data["details"] == {"alpha": [1.0, 2.0], "n": 3, "pair": [1, 2], "ok": True}
    assert data["residual"] == 1.5


def test_infinite_residual_is_null_in_json():
    """JSON has no infinity: an unmeasurable residual is written as null."""
    assert Hint("precision", "m", 1.0, float("inf")).to_json()["residual"] is None


def test_unknown_cause_is_rejected():
    """A cause outside the issue's vocabulary raises ValueError naming the allowed ones."""
    with pytest.raises(ValueError, match="channel_order"):
        Hint("colour", "m", 1.0)


def test_confidence_is_clamped_to_unit_interval():
    """Confidence outside 0..1 is clamped, never reported as 1.3."""
    assert Hint(CAUSES[0], "m", 1.3).confidence == 1.0
    assert Hint(CAUSES[0], "m", -2).confidence == 0.0
