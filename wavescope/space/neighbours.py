"""Neighbourhoods of sites on lines, regular grids and irregular layouts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from wavescope.core.validate import WaveInputError


@dataclass(frozen=True)
class Neighbours:
    """Which sites neighbour which.

    Attributes
    ----------
    index : ndarray of int, shape (n_sites, K)
        Neighbour indices per site; -1 where a site has fewer than K neighbours.
        Bad sites have no neighbours and are nobody's neighbour.
    offset : ndarray, shape (n_sites, K, d)
        ``positions[index] - positions[site]`` in the positions' unit (0 where missing).
    kind : {"line", "grid", "irregular"}
        The layout that was detected.
    pitch : float or None
        Grid pitch (or line spacing when even), in the positions' unit.
    """

    index: np.ndarray
    offset: np.ndarray
    kind: str
    pitch: float | None

    @property
    def valid(self) -> np.ndarray:
        return self.index >= 0


def detect_grid(positions: np.ndarray, rtol: float = 1e-3) -> tuple[float, np.ndarray] | None:
    """Return ``(pitch, ij)`` if the positions sit on an axis-aligned square lattice.

    ``ij`` holds integer lattice coordinates, shape (n_sites, d). Returns None for
    irregular layouts.
    """
    pos = np.asarray(positions, float)
    if len(pos) < 2:
        return None
    d, _ = cKDTree(pos).query(pos, k=2)
    nn = d[:, 1]
    pitch = float(np.min(nn))
    if pitch <= 0:
        dup = np.flatnonzero(nn == 0)
        raise WaveInputError(
            f"sites {dup[:6].tolist()} share a position with another site; positions must be "
            "distinct (mark duplicates bad, or pick one channel type)."
        )
    ij = (pos - pos.min(axis=0)) / pitch
    if np.max(np.abs(ij - np.round(ij))) > rtol or np.max(nn) > pitch * (1 + rtol):
        return None
    return pitch, np.round(ij).astype(int)


def find_neighbours(positions, bad=None, *, k: int | None = None) -> Neighbours:
    """Neighbours of every good site, for spatial derivatives.

    - line (1-D positions): the nearest good site on each side;
    - regular grid (all sites on an axis-aligned lattice): the 2 d lattice neighbours at
      one pitch (so the least-squares gradient is the wrapped central difference);
    - irregular layout: the ``k`` nearest good sites (default 6 in 2-D, 10 in 3-D).

    Parameters
    ----------
    positions : ndarray, shape (n_sites, d)
    bad : ndarray of bool, shape (n_sites,), optional
        Sites to leave out.
    k : int, optional
        Number of neighbours on irregular layouts.
    """
    pos = np.asarray(positions, float)
    n, dim = pos.shape
    bad = np.zeros(n, bool) if bad is None else np.asarray(bad, bool)
    good = np.flatnonzero(~bad)
    if len(good) < 2:
        raise WaveInputError(
            f"only {len(good)} good site(s); spatial derivatives need at least 2 (3 in 2-D). "
            "Check the bad-site mask."
        )
    if dim == 1:
        order = good[np.argsort(pos[good, 0])]
        index = -np.ones((n, 2), int)
        index[order[1:], 0] = order[:-1]
        index[order[:-1], 1] = order[1:]
        gaps = np.diff(pos[order, 0])
        pitch = float(gaps[0]) if np.allclose(gaps, gaps[0], rtol=1e-6) else None
        kind = "line"
    else:
        grid = detect_grid(pos[good])
        if grid is not None:
            pitch, ij = grid
            lookup = {tuple(c): g for c, g in zip(ij, good)}
            steps = [s * e for e in np.eye(dim, dtype=int) for s in (1, -1)]
            index = -np.ones((n, 2 * dim), int)
            for c, g in zip(ij, good):
                for m, s in enumerate(steps):
                    index[g, m] = lookup.get(tuple(c + s), -1)
            kind = "grid"
        else:
            kk = k if k is not None else (6 if dim == 2 else 10)
            kk = min(kk, len(good) - 1)
            _, nb = cKDTree(pos[good]).query(pos[good], k=kk + 1)
            index = -np.ones((n, kk), int)
            index[good] = good[nb[:, 1:]]
            pitch, kind = None, "irregular"
    offset = np.where(index[..., None] >= 0, pos[np.maximum(index, 0)] - pos[:, None, :], 0.0)
    return Neighbours(index=index, offset=offset, kind=kind, pitch=pitch)


def pairs_within(positions, bad=None, max_distance: float | None = None) -> np.ndarray:
    """All pairs (i, j), i < j, of good sites closer than ``max_distance``, shape (n_pairs, 2).

    ``max_distance`` defaults to 4 times the median nearest-neighbour distance.
    """
    pos = np.asarray(positions, float)
    bad = np.zeros(len(pos), bool) if bad is None else np.asarray(bad, bool)
    good = np.flatnonzero(~bad)
    if len(good) < 2:
        raise WaveInputError("need at least 2 good sites to form pairs.")
    tree = cKDTree(pos[good])
    if max_distance is None:
        d, _ = tree.query(pos[good], k=2)
        max_distance = 4.0 * float(np.median(d[:, 1]))
    pairs = tree.query_pairs(max_distance * (1 + 1e-9), output_type="ndarray")
    return good[pairs]


def site_spacing(positions) -> float:
    """Median distance from each site to its nearest neighbour, in the positions' unit.

    The one definition of "site spacing" in wavescope: the unit of the dimensionless
    speed (sites per cycle), of the under-resolution warning (wavelength under 4 spacings)
    and of the broadband lag searches. Pass the good sites' positions.

    Parameters
    ----------
    positions : ndarray, shape (n_sites, d)
        At least 2 sites.
    """
    pos = np.asarray(positions, float)
    if pos.ndim != 2 or len(pos) < 2:
        raise WaveInputError("a site spacing needs at least 2 sites (positions n_sites x d).")
    d, _ = cKDTree(pos).query(pos, k=2)
    return float(np.median(d[:, 1]))
