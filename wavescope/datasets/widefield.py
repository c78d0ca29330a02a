"""Widefield imaging recordings: frames to a masked grid field.

The cortex mask keeps the pixels that belong to the largest bright connected region of
the mean image (the exposed cortex; pixels outside it see the skull or the background
and carry no cortical signal). The threshold between the two is Otsu's, computed on the
mean image.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_positive

__all__ = ["cortex_mask", "read_widefield_npz", "LENS_KETAMINE"]

#: Where the LENS ketamine widefield recording sits, relative to the project root.
LENS_KETAMINE = Path("../shared/data/lens_widefield_ketamine/frames.npz")


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def cortex_mask(frames, *, erode: int = 1) -> np.ndarray:
    """Boolean mask (rows, cols) of the cortex in a stack of frames (time, rows, cols).

    Pixels brighter than Otsu's threshold of the mean image, largest connected region,
    holes filled, eroded by ``erode`` pixels to drop the border.
    """
    f = np.asarray(frames)
    if f.ndim != 3:
        raise WaveInputError(f"frames must be (n_times, n_rows, n_cols), got {f.shape}.")
    mean = f.mean(axis=0, dtype=np.float64)
    mask = mean > _otsu(mean)
    lab, n = ndimage.label(mask)
    if n == 0:
        raise WaveInputError("no bright region found for the cortex mask; pass mask= explicitly.")
    sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
    mask = ndimage.binary_fill_holes(lab == 1 + int(np.argmax(sizes)))
    if erode:
        mask = ndimage.binary_erosion(mask, iterations=erode)
    if mask.sum() < 4:
        raise WaveInputError("cortex mask keeps fewer than 4 pixels; pass mask= explicitly.")
    return mask


def read_widefield_npz(path: str | os.PathLike = LENS_KETAMINE, *, mask=None) -> WaveField:
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
        seconds; ``meta["grid_shape"]`` and ``meta["mask"]`` describe the image.
    """
    path = Path(path)
    if not path.exists():
        raise WaveFileNotFoundError(f"{path}: no such file.")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"frames", "fs_hz", "pixel_size_m"} - set(z.files)
            if missing:
                raise WaveInputError(f"{path}: missing key(s) {sorted(missing)}.")
            frames, fs, pitch = z["frames"], float(z["fs_hz"]), float(z["pixel_size_m"])
    except WaveInputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise WaveInputError(f"{path}: unreadable or corrupt .npz ({exc}).") from None
    check_positive("fs_hz", fs)
    if mask is None:
        mask = cortex_mask(frames)
    field = WaveField.from_grid(
        frames.astype(np.float32), fs, pitch, mask=mask, meta={"source": str(path)}
    )
    field.meta["mask"] = np.asarray(mask, bool)
    return field
