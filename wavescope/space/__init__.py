"""Layer 3: neighbourhoods and spatial derivatives on lines, grids and irregular layouts."""

from wavescope.space.neighbours import Neighbours, detect_grid, find_neighbours, pairs_within

__all__ = ["Neighbours", "detect_grid", "find_neighbours", "pairs_within"]
