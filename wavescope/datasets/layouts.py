"""Site layouts: regular grids, irregular scatters and lines (positions only)."""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError, check_positive


def grid_positions(n_rows: int, n_cols: int, pitch: float) -> np.ndarray:
    """Positions of a regular ``n_rows x n_cols`` grid, shape (n_rows * n_cols, 2).

    Site ``r * n_cols + c`` sits at ``x = c * pitch``, ``y = r * pitch`` (same order and
    orientation as :meth:`wavescope.WaveField.from_grid`).
    """
    pitch = check_positive("pitch", pitch)
    if n_rows < 1 or n_cols < 1:
        raise WaveInputError(f"grid needs n_rows, n_cols >= 1, got {n_rows} x {n_cols}.")
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    return np.column_stack([cols.ravel() * pitch, rows.ravel() * pitch]).astype(float)


def line_positions(n_sites: int, spacing: float = 1.0) -> np.ndarray:
    """Positions of ``n_sites`` equally spaced sites on a line, shape (n_sites, 1)."""
    spacing = check_positive("spacing", spacing)
    return (np.arange(n_sites, dtype=float) * spacing)[:, None]


def random_positions(
    n_sites: int,
    width: float,
    height: float | None = None,
    *,
    min_distance: float | None = None,
    seed=None,
) -> np.ndarray:
    """``n_sites`` irregularly placed sites in a ``width x height`` rectangle, shape (n, 2).

    Points are drawn uniformly and rejected when closer than ``min_distance`` to an earlier
    point (default: a third of the spacing of a square grid with the same density), which
    mimics how electrodes are placed: irregular, but not on top of one another.
    """
    height = width if height is None else height
    width, height = check_positive("width", width), check_positive("height", height)
    rng = np.random.default_rng(seed)
    if min_distance is None:
        min_distance = np.sqrt(width * height / n_sites) / 3
    pts: list[np.ndarray] = []
    tries = 0
    while len(pts) < n_sites:
        tries += 1
        if tries > 1000 * n_sites:
            raise WaveInputError(
                f"could not place {n_sites} sites {min_distance:g} apart "
                f"in {width:g} x {height:g}; "
                "lower min_distance."
            )
        p = rng.uniform([0, 0], [width, height])
        if not pts or np.min(np.linalg.norm(np.asarray(pts) - p, axis=1)) >= min_distance:
            pts.append(p)
    return np.asarray(pts)
