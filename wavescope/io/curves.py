"""Memory-curve JSON files: what ``wavescope memory --json`` and ``wavescope probe
--memory-curve --json`` write (one :meth:`~wavescope.waves.memory.MemoryCurve.summary`
dict, or any JSON holding such dicts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError

__all__ = ["read_memory_curves"]

#: Keys every memory-curve summary has.
CURVE_KEYS = (
    "lags",
    "score",
    "ci_low",
    "ci_high",
    "chance",
    "horizon",
    "capacity",
    "metric",
    "dt",
    "time_unit",
)


def _find(obj, found: list, near: list) -> None:
    if isinstance(obj, dict):
        keys = set(obj)
        if set(CURVE_KEYS) <= keys:
            found.append(obj)
            return
        if {"score", "horizon"} <= keys:
            near.append(sorted(set(CURVE_KEYS) - keys))
        for v in obj.values():
            _find(v, found, near)
    elif isinstance(obj, list):
        for v in obj:
            _find(v, found, near)


def read_memory_curves(path: str | os.PathLike) -> list[dict]:
    """Every memory-curve summary in a JSON file, in file order.

    Raises
    ------
    WaveFileNotFoundError
        The file does not exist.
    WaveInputError
        It is not JSON, or holds no curve (the message names the keys a near-curve lacks).
    """
    p = Path(path)
    if not p.is_file():
        raise WaveFileNotFoundError(
            f"{p}: no such memory-curve file (written by 'wavescope memory --json')."
        )
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WaveInputError(f"{p}: not a JSON file.") from None
    found, near = [], []
    _find(obj, found, near)
    if not found:
        hint = f" (a curve-like entry lacks {near[0]})" if near else ""
        raise WaveInputError(
            f"{p} holds no memory curve{hint}: give the JSON written by 'wavescope memory "
            "--json' or 'wavescope probe --memory-curve --json' (MemoryCurve.summary())."
        )
    return found
