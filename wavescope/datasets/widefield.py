"""Widefield imaging recordings: frames to a masked grid field.

The cortex mask keeps the pixels that belong to the largest bright connected region of
the mean image (the exposed cortex; pixels outside it see the skull or the background
and carry no cortical signal). The threshold between the two is Otsu's, computed on the
mean image. Reading and preprocessing in one call, chunk by chunk, for any frame stack
(.npz, TIFF, HDF5, NWB): :mod:`wavescope.io.widefield`.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.io.widefield import RAW_FRAMES, cortex_mask_from_mean, read_widefield

__all__ = ["cortex_mask", "read_widefield_npz"]


def cortex_mask(frames, *, erode: int = 1) -> np.ndarray:
    """Boolean mask (rows, cols) of the cortex in a stack of frames (time, rows, cols).

    Pixels brighter than Otsu's threshold of the mean image, largest connected region,
    holes filled, eroded by ``erode`` pixels to drop the border.
    """
    f = np.asarray(frames)
    if f.ndim != 3:
        raise WaveInputError(f"frames must be (n_times, n_rows, n_cols), got {f.shape}.")
    return cortex_mask_from_mean(f.mean(axis=0, dtype=np.float64), erode=erode)


def read_widefield_npz(path: str | os.PathLike, *, mask=None) -> WaveField:
    """Read a widefield recording stored as frames (``frames``, ``fs_hz``, ``pixel_size_m``).

    Parameters
    ----------
    path : path-like
        A .npz with ``frames`` (time, rows, cols), ``fs_hz`` and ``pixel_size_m``
        (as the LENS ketamine recording in ../shared/data).
    mask : ndarray of bool (rows, cols), optional
        Pixels to keep; default :func:`cortex_mask`.

    Returns
    -------
    WaveField
        Raw camera counts (float32) of the masked pixels, positions in metres, time in
        seconds; ``meta["grid_shape"]`` and ``meta["mask"]`` describe the image. For the
        preprocessed field in one call use :func:`wavescope.io.read_widefield`.
    """
    opts = RAW_FRAMES if mask is None else replace(RAW_FRAMES, mask=np.asarray(mask, bool))
    return read_widefield(path, opts)
