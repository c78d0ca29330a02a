"""Layer 3: neighbourhoods and spatial derivatives on lines, grids and irregular layouts."""

from wavescope.space.neighbours import Neighbours, detect_grid, find_neighbours, pairs_within

__all__ = ["Neighbours", "detect_grid", "find_neighbours", "pairs_within"]

from wavescope.space.gradient import gradient_operator, phase_gradient  # noqa: E402

__all__ += ["gradient_operator", "phase_gradient"]
