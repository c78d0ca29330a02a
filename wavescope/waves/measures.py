"""Elementary wave measures from phase gradients and instantaneous frequency.

Conventions (DESIGN.md): for a wave ``exp(i(w t - k . x))`` the phase gradient is
``-k``; the direction of propagation is ``angle(k)``, i.e. opposite to the phase
gradient, counter-clockwise from +x; speed ``|w| / |k|`` is positive; wavelength is
``2 pi / |k|``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "phase_gradient_directionality",
    "propagation_direction",
    "phase_speed",
    "wavelength",
    "local_speed",
]


def phase_gradient_directionality(grad) -> np.ndarray:
    """Phase gradient directionality (PGD) per sample (Rubino et al. 2006).

    ``PGD(t) = |mean_i grad phi_i(t)| / mean_i |grad phi_i(t)|`` over the sites with a
    finite gradient: 1 when every site's gradient points the same way (a plane wave), near
    0 for disorganised phase.

    Parameters
    ----------
    grad : ndarray, shape (d, n_sites, n_times)
        Phase gradients (any length unit; PGD is dimensionless).

    Returns
    -------
    pgd : ndarray, shape (n_times,)

    References
    ----------
    Rubino D, Robbins KA, Hatsopoulos NG (2006). Propagating waves mediate information
    transfer in the motor cortex. Nat Neurosci 9, 1549-1557.
    """
    g = np.asarray(grad)
    site_ok = np.all(np.isfinite(g), axis=(0, 2))  # sites without NaN anywhere (usual case)
    if np.all(np.isfinite(g[:, site_ok])):
        g0 = g[:, site_ok] if not site_ok.all() else g
        cnt = max(int(site_ok.sum()), 1)
    else:
        ok = np.all(np.isfinite(g), axis=0)  # (n, T)
        g0 = np.where(ok, g, 0)
        cnt = np.maximum(ok.sum(axis=0), 1)
    mean_vec = g0.sum(axis=1) / cnt  # (d, T)
    mean_mag = np.sqrt(np.einsum("dnt,dnt->nt", g0, g0)).sum(axis=0) / cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm(mean_vec, axis=0) / mean_mag


def propagation_direction(grad_vec) -> np.ndarray:
    """Direction of propagation (radians, CCW from +x) of phase gradient vectors (d, ...).

    1-D: 0 towards increasing position, pi towards decreasing.
    """
    g = np.asarray(grad_vec)
    if g.shape[0] == 1:
        return np.where(-g[0] >= 0, 0.0, np.pi)
    return np.arctan2(-g[1], -g[0])


def phase_speed(omega, grad_vec) -> np.ndarray:
    """Phase speed ``|omega| / |grad phi|`` (length unit per time unit).

    Parameters
    ----------
    omega : ndarray
        Angular frequency, radians per time unit.
    grad_vec : ndarray, shape (d, ...)
        Phase gradient, radians per length unit.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(omega) / np.linalg.norm(grad_vec, axis=0)


def wavelength(grad_vec) -> np.ndarray:
    """Wavelength ``2 pi / |grad phi|`` in the length unit of the gradient."""
    with np.errstate(divide="ignore"):
        return 2 * np.pi / np.linalg.norm(grad_vec, axis=0)


def local_speed(omega_sites, grad) -> np.ndarray:
    """Speed at each site and sample, shape (n_sites, n_times), from per-site
    instantaneous angular frequency (n_sites, n_times) and gradient (d, n_sites, n_times).

    Noisy wherever the gradient is small; summarise with a median, or use the per-sample
    plane fit for the recording's speed."""
    return phase_speed(omega_sites, grad)
