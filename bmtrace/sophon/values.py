"""sail values: kept here for existing imports; the conversions live with the other value codecs in
bmtrace/codecs/sail_values.py, the one place sail objects are recognised."""
from __future__ import annotations

from ..codecs.sail_values import (  # noqa: F401  (re-exported)
    bf16_to_float32, enum_name, is_sail_bmimage, is_sail_bmimage_array, is_sail_object, is_sail_tensor,
    sail_to_array,
)
