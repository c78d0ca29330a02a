"""Projection of 3-D contact positions onto a 2-D surface.

Wave measures on a cortical surface need 2-D coordinates. Two projections are offered:

- ``"plane"``: the best-fit plane (principal axes of the centred positions); coordinates
  are the positions along the first two axes. Exact for flat grids; distances shrink
  by ``cos`` of the surface's tilt away from the plane on curved arrays.
- ``"sphere"``: a least-squares sphere through the contacts (cortex is locally close to
  a sphere), then the azimuthal equidistant projection about the contacts' mean
  direction: distances from the centre of the array along the sphere are preserved, and
  lengths elsewhere are stretched by at most ``theta / sin(theta)`` (under 1% for arrays
  spanning under 28 degrees of arc).

Both keep the unit of the input (metres for MNE montages). The surface normal is the
positions' direction of least extent; in the surface, x is the input frame's x axis
projected onto it (y when x is nearly normal to it) and y completes a right-handed frame
on the side of the input's y, so that a flat grid in the x-y plane keeps its own axes and
directions are reported in a frame tied to the recording's (e.g. MNE's head frame).
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError, check_option

__all__ = ["project_positions", "fit_sphere"]


def fit_sphere(points) -> tuple[np.ndarray, float]:
    """Least-squares sphere ``|x - c|^2 = r^2`` through points (n, 3): centre and radius."""
    p = np.asarray(points, float)
    A = np.column_stack([2 * p, np.ones(len(p))])
    b = np.sum(p**2, axis=1)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    c = sol[:3]
    r = float(np.sqrt(sol[3] + c @ c))
    return c, r


def _axes(centred: np.ndarray) -> np.ndarray:
    """Rows: the in-surface x and y axes and the normal, tied to the input's own frame.

    The normal is the direction of least extent (principal axes); in the surface, x is
    the input frame's x axis projected onto it (its y axis when x is nearly normal), and
    y completes the frame on the side of the input's y. Principal axes alone would turn a
    square grid by an arbitrary angle (their in-plane pair is degenerate), and with them
    every direction: a flat grid in the x-y plane keeps its own x and y here.
    """
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    n = vt[2] / np.linalg.norm(vt[2])
    eye = np.eye(3)
    e1 = eye[0] - (eye[0] @ n) * n
    if np.linalg.norm(e1) < 0.3:
        e1 = eye[1] - (eye[1] @ n) * n
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    ref = eye[1] if abs(eye[0] @ n) < 0.95 else eye[2]
    if e2 @ ref < 0:
        n, e2 = -n, -e2
    return np.vstack([e1, e2, n])


def project_positions(positions, method: str = "plane") -> tuple[np.ndarray, dict]:
    """Project 3-D positions (n_sites, 3) onto 2-D surface coordinates (n_sites, 2).

    Parameters
    ----------
    positions : ndarray, shape (n_sites, 3)
        Contact positions (e.g. metres, MNE head frame).
    method : {"plane", "sphere"}
        See the module docstring.

    Returns
    -------
    xy : ndarray, shape (n_sites, 2)
        Surface coordinates, same unit as ``positions``.
    info : dict
        ``method``, ``rms_out_of_surface`` (RMS distance of the contacts from the fitted
        plane or sphere, input unit), and ``radius`` for the sphere.
    """
    check_option("method", method, ("plane", "sphere"))
    p = np.asarray(positions, float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise WaveInputError(f"positions must be (n_sites, 3) to project, got {p.shape}.")
    if len(p) < 3:
        raise WaveInputError("need at least 3 positions to fit a surface.")
    centre = p.mean(axis=0)
    ax = _axes(p - centre)
    if method == "plane":
        local = (p - centre) @ ax.T
        return local[:, :2], {
            "method": "plane",
            "rms_out_of_surface": float(np.sqrt(np.mean(local[:, 2] ** 2))),
        }
    c, r = fit_sphere(p)
    u = (p - c) / np.linalg.norm(p - c, axis=1, keepdims=True)
    pole = u.mean(axis=0)
    pole /= np.linalg.norm(pole)
    e1 = ax[0] - (ax[0] @ pole) * pole
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(pole, e1)
    theta = np.arccos(np.clip(u @ pole, -1, 1))
    phi = np.arctan2(u @ e2, u @ e1)
    xy = r * theta[:, None] * np.column_stack([np.cos(phi), np.sin(phi)])
    resid = np.linalg.norm(p - c, axis=1) - r
    return xy, {
        "method": "sphere",
        "radius": r,
        "rms_out_of_surface": float(np.sqrt(np.mean(resid**2))),
    }
