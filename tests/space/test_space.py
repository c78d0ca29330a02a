"""Neighbourhoods and phase gradients on lines, grids and irregular layouts."""

import numpy as np
import pytest

from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, line_positions, random_positions
from wavescope.space import detect_grid, find_neighbours, phase_gradient


def linear_phase(pos, g, t=50):
    """phi_i(t) = 0.3 t + g . x_i (wrapped): an exact plane of known gradient g."""
    phi = 0.3 * np.arange(t)[None, :] + (pos @ np.asarray(g))[:, None]
    return np.angle(np.exp(1j * phi))


@pytest.mark.parametrize("layout", ["grid", "irregular", "line"])
def test_gradient_of_a_plane_is_exact(layout):
    # Any wrapped plane whose neighbour differences stay below pi is recovered exactly
    # (float64 round-off) at every good site, edges included.
    if layout == "grid":
        pos, g = grid_positions(6, 7, 0.4), [0.9, -0.5]
    elif layout == "irregular":
        pos, g = random_positions(60, 4.0, seed=1), [0.6, 0.4]
    else:
        pos, g = line_positions(20, 0.5), [1.7]
    grad = phase_gradient(linear_phase(pos, g), pos)
    assert grad.shape == (len(g), len(pos), 50)
    for a, ga in enumerate(g):
        np.testing.assert_allclose(grad[a], ga, atol=1e-9)


def test_grid_gradient_is_the_wrapped_central_difference():
    pos = grid_positions(5, 5, 1.0)
    rng = np.random.default_rng(0)
    phi = rng.uniform(-np.pi, np.pi, (25, 3))
    grad = phase_gradient(phi, pos)
    P = phi.reshape(5, 5, 3)

    def w(a):
        return np.angle(np.exp(1j * a))

    # interior site (2, 2): x derivative along columns
    expect = (w(P[2, 3] - P[2, 2]) + w(P[2, 2] - P[2, 1])) / 2
    np.testing.assert_allclose(grad[0, 12], expect, atol=1e-12)
    # edge site (0, 0): one-sided difference
    np.testing.assert_allclose(grad[1, 0], w(P[1, 0] - P[0, 0]), atol=1e-12)


def test_bad_sites_are_excluded_and_nan():
    pos = grid_positions(5, 5, 1.0)
    bad = np.zeros(25, bool)
    bad[12] = True  # centre
    phi = linear_phase(pos, [0.5, 0.2])
    phi[12] = 99.0  # garbage at the bad site must not leak into its neighbours
    grad = phase_gradient(phi, pos, bad)
    assert np.all(np.isnan(grad[:, 12]))
    ok = ~bad
    np.testing.assert_allclose(grad[0, ok], 0.5, atol=1e-9)
    np.testing.assert_allclose(grad[1, ok], 0.2, atol=1e-9)


def test_layout_detection_and_errors():
    assert find_neighbours(grid_positions(3, 3, 0.4e-3)).kind == "grid"
    assert find_neighbours(random_positions(20, 1.0, seed=0)).kind == "irregular"
    assert find_neighbours(line_positions(5)).kind == "line"
    assert detect_grid(random_positions(20, 1.0, seed=0)) is None
    with pytest.raises(WaveInputError, match="share a position"):
        find_neighbours(np.array([[0.0, 0], [0, 0], [1, 1]]))
    with pytest.raises(WaveInputError, match="good site"):
        find_neighbours(grid_positions(2, 2, 1.0), bad=np.array([1, 1, 1, 0], bool))
    with pytest.raises(WaveInputError, match="rows"):
        phase_gradient(np.zeros((4, 3)), grid_positions(3, 3, 1.0))
