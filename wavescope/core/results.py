"""Typed results: dataclasses that turn themselves into JSON-ready dicts.

Every result a pipeline returns (a comparison, a batch record, a report section) is a
dataclass deriving from :class:`Result`; :meth:`Result.to_json` gives the dict written to
JSON files (numpy scalars and arrays to Python numbers and lists, NaN and inf to None,
nested results to dicts), and renderers read the fields, never string keys.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import PurePath

import numpy as np

__all__ = ["Result", "finite_or_none", "jsonable"]


def finite_or_none(x) -> float | None:
    """``float(x)``, or None where it is NaN or infinite (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def jsonable(obj):
    """A JSON-safe copy of ``obj``: dataclasses and mappings to dicts, NaN/inf to None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        own = getattr(type(obj), "to_json", None)
        if own is not None and own is not Result.to_json:  # a result that shapes its JSON
            return jsonable(obj.to_json())
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, PurePath):
        return str(obj)
    return obj


class Result:
    """Mixin of the typed results: ``to_json()`` gives a JSON-ready dict of the fields."""

    def to_json(self) -> dict:
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
