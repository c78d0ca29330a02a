"""Elementary circular quantities shared by the analysis layers.

The inferential circular statistics (Rayleigh, V-test, ...) live in
:mod:`wavescope.stats`; these are the few pieces the wave measures themselves need.
"""

from __future__ import annotations

import numpy as np


def wrap(angle):
    """Wrap angles (radians) into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def circ_mean(angles, axis=None, weights=None) -> np.ndarray:
    """Circular mean (radians) of ``angles`` (radians), NaNs ignored."""
    z = _resultant(angles, axis, weights)
    return np.angle(z)


def resultant_length(angles, axis=None, weights=None) -> np.ndarray:
    """Mean resultant length R in [0, 1] (1: all angles equal), NaNs ignored."""
    return np.abs(_resultant(angles, axis, weights))


def _resultant(angles, axis, weights):
    a = np.asarray(angles, dtype=float)
    ok = np.isfinite(a)
    w = np.ones_like(a) if weights is None else np.broadcast_to(np.asarray(weights, float), a.shape)
    w = np.where(ok, w, 0.0)
    z = np.where(ok, np.exp(1j * np.where(ok, a, 0.0)), 0.0)
    tot = np.sum(w, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(w * z, axis=axis) / tot
