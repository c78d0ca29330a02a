"""The .npz interchange format.

Keys: ``data`` (n_sites, n_times) float, ``fs`` (samples per time unit),
``positions`` (n_sites, d), optional ``space_unit`` ("m", "mm", "um", "site"),
``time_unit`` ("s", "ms", "step"), ``ch_names`` and ``bad`` (bool per site).
Files are read with ``allow_pickle=False``: only plain arrays are accepted.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError

REQUIRED_KEYS = ("data", "fs", "positions")


def read_npz(path: str | os.PathLike) -> WaveField:
    """Read a :class:`WaveField` from an interchange .npz file.

    Parameters
    ----------
    path : str or path-like
        File written by :func:`write_npz` or by any tool following the format.

    Returns
    -------
    field : WaveField
    """
    path = Path(path)
    if not path.exists():
        raise WaveInputError(f"{path}: no such file.")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            missing = [k for k in REQUIRED_KEYS if k not in keys]
            if missing:
                raise WaveInputError(
                    f"{path}: missing key(s) {missing}; an interchange .npz needs data "
                    "(n_sites, n_times), fs and positions (n_sites, d)."
                )
            arrays = {k: f[k] for k in f.files}
    except WaveInputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise WaveInputError(
            f"{path}: not a readable .npz file ({exc}); it may be truncated or corrupt, "
            "or hold pickled objects, which are refused."
        ) from None

    def text(key, default):
        if key not in arrays:
            return default
        return str(arrays[key].item() if arrays[key].ndim == 0 else arrays[key])

    fs = arrays["fs"]
    if np.ndim(fs) != 0:
        raise WaveInputError(f"{path}: fs must be a scalar, got shape {np.shape(fs)}.")
    names = tuple(str(n) for n in arrays["ch_names"]) if "ch_names" in arrays else ()
    return WaveField(
        data=arrays["data"],
        fs=float(fs),
        positions=arrays["positions"],
        space_unit=text("space_unit", "m"),
        time_unit=text("time_unit", "s"),
        ch_names=names,
        bad=arrays.get("bad"),
        meta={"source": str(path)},
    )


def write_npz(path: str | os.PathLike, field: WaveField, *, overwrite: bool = False) -> Path:
    """Write a :class:`WaveField` in the interchange format (atomically).

    Parameters
    ----------
    path : str or path-like
        Destination; ``.npz`` is appended if missing.
    overwrite : bool
        Refuse to replace an existing file unless True.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz")
    if path.exists() and not overwrite:
        raise WaveInputError(
            f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it."
        )
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(
        tmp,
        data=field.data,
        fs=np.float64(field.fs),
        positions=field.positions,
        space_unit=np.str_(field.space_unit),
        time_unit=np.str_(field.time_unit),
        ch_names=np.array(field.ch_names, dtype=str),
        bad=field.bad,
    )
    os.replace(tmp, path)
    return path
