"""Spatial phase gradients on lines, grids and irregular layouts.

One method serves every layout: at each site the gradient is the weighted
least-squares plane through the wrapped phase differences to its neighbours,
``g_i = argmin sum_j w_ij (wrap(phi_j - phi_i) - g . (x_j - x_i))^2``, with
``w_ij = 1 / |x_j - x_i|^2``. On a grid the neighbours are the 2 d lattice neighbours,
where this is exactly the wrapped central difference
``(wrap(phi_{+} - phi_0) + wrap(phi_0 - phi_{-})) / (2 h)`` (one-sided at edges and next
to bad sites); on a line, the two nearest good sites; on irregular layouts, the k nearest
good sites: no interpolation to a grid. Bad sites are never used and get NaN.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError
from wavescope.space.neighbours import Neighbours, find_neighbours

__all__ = ["gradient_operator", "phase_gradient"]


def gradient_operator(nb: Neighbours) -> np.ndarray:
    """Least-squares weights ``C`` such that ``grad_i = sum_k C[i, :, k] dphi_ik``.

    Returns
    -------
    C : ndarray, shape (n_sites, d, K)
        Zero where a neighbour is missing; NaN for sites whose neighbours do not span
        the d dimensions (too few or collinear), so that their gradient is NaN.
    """
    off = nb.offset  # (n, K, d)
    valid = nb.valid
    dist2 = np.sum(off**2, axis=-1)
    w = np.where(valid, 1.0 / np.where(valid, dist2, 1.0), 0.0)  # (n, K)
    n, K, d = off.shape
    XtW = np.transpose(off * w[..., None], (0, 2, 1))  # (n, d, K)
    XtWX = XtW @ off  # (n, d, d)
    C = np.full((n, d, K), np.nan)
    cond = np.linalg.cond(XtWX) if n else np.empty(0)
    ok = np.isfinite(cond) & (cond < 1e8) & (valid.sum(axis=1) >= d)
    if ok.any():
        C[ok] = np.linalg.solve(XtWX[ok], XtW[ok])
    return C


def phase_gradient(
    phase,
    positions,
    bad=None,
    *,
    neighbours: Neighbours | None = None,
    operator: np.ndarray | None = None,
) -> np.ndarray:
    """Spatial gradient of phase at every site and sample.

    Parameters
    ----------
    phase : ndarray, shape (n_sites, n_times)
        Phase in radians (wrapped or not: only wrapped differences are used).
    positions : ndarray, shape (n_sites, d)
        Site positions, in any length unit L.
    bad : ndarray of bool, shape (n_sites,), optional
        Sites to exclude (their gradient is NaN and they are nobody's neighbour).
    neighbours, operator : optional
        Precomputed :func:`~wavescope.space.find_neighbours` and
        :func:`gradient_operator` results, to reuse across chunks.

    Returns
    -------
    grad : ndarray, shape (d, n_sites, n_times)
        Phase gradient in radians per L, component by component (``grad[0]`` is
        d phi / dx). Same float type as ``phase``.
    """
    phase = np.asarray(phase)
    if phase.ndim != 2:
        raise WaveInputError(f"phase must be (n_sites, n_times), got shape {phase.shape}.")
    pos = np.asarray(positions, float)
    if pos.ndim == 1:
        pos = pos[:, None]
    if pos.shape[0] != phase.shape[0]:
        raise WaveInputError(
            f"positions has {pos.shape[0]} rows for {phase.shape[0]} sites; give one per site."
        )
    nb = find_neighbours(pos, bad) if neighbours is None else neighbours
    C = gradient_operator(nb) if operator is None else operator
    dtype = phase.dtype if phase.dtype.kind == "f" else np.dtype(np.float64)
    phase = phase.astype(dtype, copy=False)
    n, d, K = C.shape
    grad = np.zeros((d, n, phase.shape[1]), dtype)
    two_pi = dtype.type(2 * np.pi)
    inv_two_pi = dtype.type(1 / (2 * np.pi))
    Cd = np.nan_to_num(C).astype(dtype)  # zero weight where a neighbour is missing
    self_index = np.arange(n)
    diff = np.empty_like(phase)
    tmp = np.empty_like(phase)
    for k in range(K):
        j = nb.index[:, k]
        if not (j >= 0).any():
            continue
        # missing neighbours point at the site itself: zero difference, zero weight
        np.subtract(phase[np.where(j >= 0, j, self_index)], phase, out=diff)
        np.multiply(diff, inv_two_pi, out=tmp)
        np.rint(tmp, out=tmp)
        tmp *= two_pi
        diff -= tmp  # wrapped into [-pi, pi]
        for a in range(d):
            np.multiply(Cd[:, a, k, None], diff, out=tmp)
            grad[a] += tmp
    bad_sites = ~np.all(np.isfinite(C.reshape(n, -1)), axis=1)
    grad[:, bad_sites] = np.nan
    return grad
