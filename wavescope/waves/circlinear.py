"""Circular-linear plane fit of phase maps (Zhang et al. 2018), with shuffle significance.

For each sample, the spatial frequency and direction (together: the phase gradient
``g``) that best explain the phase map are found by a grid search maximising the
resultant length ``R(g) = |mean_i exp(i (phi_i - g . x_i))|``, then refined by
Gauss-Newton (:func:`~wavescope.waves.planar.fit_phase_plane`). The fit quality is the
circular correlation ``rho`` between the observed phases and the fitted plane; its
significance comes from refitting with shuffled positions.

References
----------
Zhang H, Watrous AJ, Patel A, Jacobs J (2018). Theta and alpha oscillations are
traveling waves in the human neocortex. Neuron 98, 1269-1281.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from wavescope.core.validate import WaveInputError
from wavescope.waves.planar import fit_phase_plane

__all__ = ["CircLinearFit", "circlinear_plane_fit", "circular_correlation"]


@dataclass
class CircLinearFit:
    """Per-sample circular-linear plane fit.

    Attributes
    ----------
    gradient : ndarray, shape (d, n_times)
        Phase gradient, radians per length unit (wave vector ``k = -gradient``).
    rho : ndarray, shape (n_times,)
        Circular correlation between observed and fitted phase.
    resultant : ndarray, shape (n_times,)
        Resultant length of the residuals, ``R`` in [0, 1].
    p_value : ndarray or None, shape (n_times,)
        Position-shuffle p-value of ``R`` (None if ``n_shuffles=0``).
    """

    gradient: np.ndarray
    rho: np.ndarray
    resultant: np.ndarray
    p_value: np.ndarray | None


def circular_correlation(a, b, axis=0) -> np.ndarray:
    """Circular correlation coefficient (Jammalamadaka & SenGupta) along ``axis``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma = np.angle(np.mean(np.exp(1j * a), axis=axis, keepdims=True))
    mb = np.angle(np.mean(np.exp(1j * b), axis=axis, keepdims=True))
    sa, sb = np.sin(a - ma), np.sin(b - mb)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(sa * sb, axis=axis) / np.sqrt(
            np.sum(sa**2, axis=axis) * np.sum(sb**2, axis=axis)
        )


def _grid(pos: np.ndarray, n_dirs: int, n_freqs: int, max_freq: float | None) -> np.ndarray:
    d = pos.shape[1]
    if max_freq is None:
        dist, _ = cKDTree(pos).query(pos, k=2)
        max_freq = np.pi / float(np.median(dist[:, 1]))
    mags = np.linspace(0, max_freq, n_freqs + 1)[1:]
    if d == 1:
        return np.concatenate([-mags[::-1], [0.0], mags])[:, None]
    th = np.linspace(0, 2 * np.pi, n_dirs, endpoint=False)
    cand = (mags[:, None, None] * np.stack([np.cos(th), np.sin(th)], -1)[None]).reshape(-1, 2)
    return np.vstack([np.zeros((1, 2)), cand])


def _best(phase, pos, cand, chunk=2048):
    E = np.exp(-1j * (cand @ pos.T))  # (n_cand, n)
    best_g = np.empty((pos.shape[1], phase.shape[1]))
    best_r = np.empty(phase.shape[1])
    for t0 in range(0, phase.shape[1], chunk):
        R = np.abs(E @ np.exp(1j * phase[:, t0 : t0 + chunk])) / pos.shape[0]
        i = np.argmax(R, axis=0)
        best_g[:, t0 : t0 + chunk] = cand[i].T
        best_r[t0 : t0 + chunk] = R[i, np.arange(R.shape[1])]
    return best_g, best_r


def circlinear_plane_fit(
    phase,
    positions,
    *,
    n_dirs: int = 72,
    n_freqs: int = 30,
    max_freq: float | None = None,
    n_shuffles: int = 0,
    seed=None,
) -> CircLinearFit:
    """Fit a plane wave to each sample of a phase map by circular-linear regression.

    Parameters
    ----------
    phase : ndarray, shape (n_sites, n_times)
        Phase (radians) of the good sites.
    positions : ndarray, shape (n_sites, d), d = 1 or 2
        Positions in length unit L.
    n_dirs, n_freqs : int
        Grid of directions (2-D) and spatial frequencies searched before refinement.
    max_freq : float, optional
        Largest spatial frequency searched, radians per L (default: pi over the median
        neighbour distance, the layout's Nyquist limit).
    n_shuffles : int
        Position shuffles for the p-value (0: none). Each costs one grid search.
    seed : int, optional
        Seed of the shuffles.

    Returns
    -------
    CircLinearFit
    """
    phi = np.asarray(phase, float)
    pos = np.asarray(positions, float)
    if pos.ndim == 1:
        pos = pos[:, None]
    if phi.ndim != 2 or phi.shape[0] != pos.shape[0]:
        raise WaveInputError(
            f"phase (n_sites, n_times) and positions (n_sites, d) disagree: "
            f"{phi.shape} vs {pos.shape}."
        )
    if pos.shape[0] < pos.shape[1] + 2:
        raise WaveInputError(
            f"circular-linear fit needs at least {pos.shape[1] + 2} sites, got {pos.shape[0]}."
        )
    cand = _grid(pos, n_dirs, n_freqs, max_freq)
    g0, r0 = _best(phi, pos, cand)
    g, R = fit_phase_plane(phi, pos, init=g0, n_iter=3)
    R = np.where(R >= r0, R, r0)
    g = np.where(R >= r0, g, g0)
    rho = circular_correlation(phi, (g.T @ pos.T).T, axis=0)
    p = None
    if n_shuffles > 0:
        rng = np.random.default_rng(seed)
        count = np.zeros(phi.shape[1])
        for _ in range(n_shuffles):
            _, rs = _best(phi, pos[rng.permutation(len(pos))], cand)
            count += rs >= R - 1e-12
        p = (1 + count) / (1 + n_shuffles)
    return CircLinearFit(gradient=g, rho=rho, resultant=R, p_value=p)
