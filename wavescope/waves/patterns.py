"""Pattern classes of 2-D phase maps: planar, radial, rotating, synchronous, disorganised.

From the local phase gradients, per sample:

- ``pgd``: phase gradient directionality (planar order);
- ``radial``: with ``u_i`` the unit propagation vectors and ``c`` the point where the
  lines through the sites along ``u_i`` meet best (least squares), the mean of
  ``u_i . (x_i - c) / |x_i - c|``: +1 for a source (outward), -1 for a sink;
- ``rotation``: with ``c`` the point that the ``u_i`` circle best (``u_i`` perpendicular to
  ``x_i - c``), the mean of the z component of ``(x_i - c) / |x_i - c| x u_i``: +1 for
  counter-clockwise rotation, -1 clockwise;
- ``synchrony``: phase order ``|mean_i exp(i phi_i)|``, 1 when all sites share one phase.

Classes are assigned in this order (thresholds are keyword arguments): planar if
``pgd >= planar``; else radial or rotating, whichever order parameter is larger in
absolute value, if it reaches ``radial`` / ``rotating``; else synchronous if
``synchrony >= synchronous``; else disorganised. A radial wave whose centre lies far
outside the array is locally planar and is called planar. The fixed thresholds follow
the spirit of NeuroPatt's (Townsend & Gong 2018: 0.85 for its order parameters); the
defaults here were set on the synthetic fields of the test suite and are stated there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavescope.core.validate import WaveInputError
from wavescope.waves.measures import phase_gradient_directionality

__all__ = ["PATTERNS", "PatternResult", "classify_patterns"]

PATTERNS = ("planar", "radial", "rotating", "synchronous", "disorganised")


@dataclass
class PatternResult:
    """Per-sample pattern labels and order parameters.

    Attributes
    ----------
    labels : ndarray of str, shape (n_times,)
        One of :data:`PATTERNS` per sample.
    pgd, radial, rotation, synchrony : ndarray, shape (n_times,)
        Order parameters (see module docstring).
    radial_center, rotation_center : ndarray, shape (n_times, 2)
        Least-squares centres, in the positions' unit.
    """

    labels: np.ndarray
    pgd: np.ndarray
    radial: np.ndarray
    rotation: np.ndarray
    synchrony: np.ndarray
    radial_center: np.ndarray
    rotation_center: np.ndarray

    def fractions(self, mask=None) -> dict[str, float]:
        """Fraction of samples in each class (of the samples in ``mask``, when given)."""
        labels = self.labels if mask is None else self.labels[np.asarray(mask, bool)]
        n = max(len(labels), 1)
        return {p: float(np.sum(labels == p) / n) for p in PATTERNS}

    def dominant(self) -> str:
        """The most frequent class."""
        f = self.fractions()
        return max(f, key=f.get)


def _centre(a_coef: np.ndarray, rhs: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Least-squares point c with a_coef[i] . c = rhs[i] per sample (a_coef: (2, n, T))."""
    a0 = np.where(ok[0], a_coef[0], 0)
    a1 = np.where(ok[0], a_coef[1], 0)
    b = np.where(ok[0], rhs, 0)
    m00, m01, m11 = (a0 * a0).sum(0), (a0 * a1).sum(0), (a1 * a1).sum(0)
    v0, v1 = (a0 * b).sum(0), (a1 * b).sum(0)
    det = m00 * m11 - m01**2
    good = det > 1e-6 * np.maximum(m00 + m11, 1e-30) ** 2
    safe = np.where(good, det, 1)
    c = np.column_stack([(m11 * v0 - m01 * v1) / safe, (m00 * v1 - m01 * v0) / safe])
    c[~good] = np.nan
    return c.astype(np.float64)


def classify_patterns(
    phase,
    grad,
    positions,
    *,
    planar: float = 0.5,
    radial: float = 0.5,
    rotating: float = 0.5,
    synchronous: float = 0.85,
) -> PatternResult:
    """Classify every sample of a 2-D phase map.

    Parameters
    ----------
    phase : ndarray, shape (n_sites, n_times)
        Phase (radians) of the good sites.
    grad : ndarray, shape (2, n_sites, n_times)
        Their local phase gradients (see :func:`wavescope.space.phase_gradient`).
    positions : ndarray, shape (n_sites, 2)
        Positions of the same sites.
    planar, radial, rotating, synchronous : float
        Thresholds on the order parameters.

    Returns
    -------
    PatternResult
    """
    g = np.asarray(grad)
    g = g.astype(np.float32 if g.dtype == np.float32 else np.float64, copy=False)
    x0 = np.asarray(positions, float)
    if g.ndim != 3 or g.shape[0] != 2 or x0.shape[1:] != (2,):
        raise WaveInputError(
            "pattern classes need a 2-D layout: grad (2, n_sites, n_times), positions (n_sites, 2)."
        )
    # centred positions in units of the layout's extent: float32-safe, results unchanged
    origin = x0.mean(axis=0) if x0.ndim == 2 else 0.0
    scale = float(np.ptp(x0, axis=0).max()) if x0.ndim == 2 and len(x0) > 1 else 1.0
    scale = scale if scale > 0 else 1.0
    x = ((x0 - origin) / scale).astype(g.dtype)
    n, T = g.shape[1:]
    if n < 4:
        raise WaveInputError(f"pattern classes need at least 4 good sites, got {n}.")
    mag = np.linalg.norm(g, axis=0)
    ok = np.isfinite(mag) & (mag > 0)
    u = np.where(ok, -g / np.where(ok, mag, 1), 0)  # unit propagation vectors (2, n, T)
    px, py = x[:, 0, None], x[:, 1, None]
    # radial: (x_i - c) x u_i = 0  ->  [u_y, -u_x] . c = x_i x u_i
    c_rad = _centre(np.stack([u[1], -u[0]]), px * u[1] - py * u[0], ok[None])
    # rotating: (x_i - c) . u_i = 0  ->  u_i . c = x_i . u_i
    c_rot = _centre(u, px * u[0] + py * u[1], ok[None])

    def order(c, kind):
        dx = x[:, 0, None] - c[None, :, 0]
        dy = x[:, 1, None] - c[None, :, 1]
        r = np.hypot(dx, dy)
        valid = ok & np.isfinite(r) & (r > 0)
        rr = np.where(valid, r, 1)
        if kind == "radial":
            val = (u[0] * dx + u[1] * dy) / rr
        else:
            val = (dx * u[1] - dy * u[0]) / rr
        cnt = np.maximum(valid.sum(axis=0), 1)
        return np.where(valid, val, 0).sum(axis=0) / cnt

    rad = np.nan_to_num(order(c_rad, "radial"))
    rot = np.nan_to_num(order(c_rot, "rotation"))
    pgd = np.nan_to_num(phase_gradient_directionality(g))
    ph = np.asarray(phase)
    sync = np.hypot(np.mean(np.cos(ph), axis=0), np.mean(np.sin(ph), axis=0))
    labels = np.full(T, "disorganised", dtype="<U12")
    labels[sync >= synchronous] = "synchronous"
    rad_wins = np.abs(rad) >= np.abs(rot)
    labels[(np.abs(rot) >= rotating) & ~rad_wins] = "rotating"
    labels[(np.abs(rad) >= radial) & rad_wins] = "radial"
    labels[pgd >= planar] = "planar"
    return PatternResult(
        labels, pgd, rad, rot, sync, c_rad * scale + origin, c_rot * scale + origin
    )
