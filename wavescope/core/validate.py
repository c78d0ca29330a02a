"""Input checks used once at each public boundary.

Every message names the argument, what was given and what is allowed or how to fix
it, in the spirit of MNE's ``_validate_type`` / ``_check_option``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from wavescope.core.errors import (  # noqa: F401 (re-exported: the historical import path)
    MissingDependencyError,
    WaveFileExistsError,
    WaveFileNotFoundError,
    WaveInputError,
    WaveTypeError,
)


def check_option(name: str, value, allowed: Iterable) -> None:
    """Raise if ``value`` is not one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise WaveInputError(
            f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, allowed))}."
        )


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float, raising if it is not a finite number > 0."""
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise WaveInputError(f"{name} must be a positive number, got {value!r}.") from None
    if not np.isfinite(val) or val <= 0:
        raise WaveInputError(f"{name} must be a finite number > 0, got {value!r}.")
    return val


def check_band(band, fs: float, time_unit: str = "s") -> tuple[float, float]:
    """Validate a pass band (lo, hi) in cycles per ``time_unit`` against the Nyquist rate."""
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise WaveInputError(
            f"band must be two numbers (lo, hi) in cycles per {time_unit}, got {band!r}."
        ) from None
    nyq = fs / 2.0
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise WaveInputError(
            f"band=({lo:g}, {hi:g}) is invalid: need 0 <= lo < hi (cycles per {time_unit})."
        )
    if hi >= nyq:
        raise WaveInputError(
            f"band upper edge {hi:g} is at or above the Nyquist frequency {nyq:g} "
            f"(fs={fs:g} per {time_unit}); lower the band or use data sampled faster."
        )
    return lo, hi


def as_float_array(name: str, value, ndim: int | None = None, dtype=None) -> np.ndarray:
    """Convert to a floating array, checking the number of dimensions."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise WaveInputError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise WaveInputError(f"{name} must be numeric, got dtype {arr.dtype}.")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise WaveInputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}.")
    return arr
