"""Plain data shared by every pure step and the web tier: a series' first volume, values JSON can hold, sizes."""

import math

import numpy as np


def first_volume(data) -> np.ndarray:
    """The first volume of a 4D series, or the array itself when it is one volume."""
    data = np.asarray(data)
    return data[..., 0] if data.ndim == 4 else data


def jsonable(value):
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN and infinities as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(size):
    """A byte count as the site writes it everywhere (pages, messages, progress bars in ``static/js/sizes.js``):
    binary units named as such, one decimal, rounded half up (as JavaScript's ``Math.floor(x + 0.5)``)."""
    if size < 1024:
        return f"{round(size)} bytes"
    value = float(size)
    for unit, name in enumerate(BYTE_UNITS):
        value /= 1024
        tenths = math.floor(value * 10 + 0.5)
        if tenths < 10240 or unit == len(BYTE_UNITS) - 1:
            return f"{tenths / 10:.1f} {name}"
