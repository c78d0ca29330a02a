"""Preprocessing of widefield calcium imaging before wave analysis.

:func:`preprocess_widefield` removes what is not cortical signal: the per-pixel
background (baseline fluorescence, as dF/F with the pixel's temporal mean as F0),
slow drifts (linear detrend per pixel), and optionally averages 2 x 2 (or n x n) blocks
of pixels to raise the signal-to-noise ratio. The band-pass (e.g. 0.1-5 Hz for slow
waves, as in the Cobrawap pipeline) is applied by the wave measures themselves.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import detrend

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError

__all__ = ["delta_f_over_f", "bin_pixels", "preprocess_widefield"]


def delta_f_over_f(data) -> np.ndarray:
    """``(F - F0) / F0`` per site, F0 the site's temporal mean (dimensionless)."""
    x = np.asarray(data, np.float32)
    f0 = x.mean(axis=1, keepdims=True)
    if np.any(f0 <= 0):
        raise WaveInputError(
            "dF/F needs positive baseline fluorescence; some sites have mean <= 0 "
            "(mask them out, or subtract the camera offset so that counts stay positive)."
        )
    return (x - f0) / f0


def bin_pixels(field: WaveField, factor: int) -> WaveField:
    """Average ``factor x factor`` blocks of a grid field (keeps blocks fully inside it)."""
    if factor == 1:
        return field
    pitch = float(np.min(np.diff(np.unique(field.positions[:, 0]))))
    ij = np.round((field.positions - field.positions.min(axis=0)) / pitch).astype(int)
    block = ij // factor
    keys, inverse, counts = np.unique(block, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    full = counts == factor * factor
    sums = np.zeros((len(keys), field.n_times), np.float64)
    np.add.at(sums, inverse, field.data)
    data = (sums[full] / counts[full, None]).astype(np.float32)
    pos = (keys[full] * factor + (factor - 1) / 2) * pitch + field.positions.min(axis=0)
    names = tuple(f"b{r}_{c}" for c, r in keys[full])
    return WaveField(
        data,
        field.fs,
        pos,
        field.space_unit,
        field.time_unit,
        names,
        None,
        dict(field.meta, binned=factor),
    )


def preprocess_widefield(field: WaveField, *, bin_factor: int = 2) -> WaveField:
    """dF/F against each pixel's mean, linear detrend, and ``bin_factor`` spatial binning.

    Parameters
    ----------
    field : WaveField
        Camera counts on a grid (from :func:`wavescope.datasets.read_widefield_npz`).
    bin_factor : int
        Side of the pixel blocks averaged (1: none).
    """
    data = detrend(delta_f_over_f(field.data), axis=1).astype(np.float32)
    out = field.with_data(data)
    return bin_pixels(out, bin_factor)
