"""Property checks over random geometry (hypothesis): exact recovery of noiseless planes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wavescope.datasets import random_positions
from wavescope.space import phase_gradient
from wavescope.waves import fit_phase_plane
from wavescope.waves.measures import phase_gradient_directionality, propagation_direction


@settings(max_examples=40, deadline=None)
@given(
    direction=st.floats(-np.pi, np.pi),
    kmag=st.floats(50.0, 600.0),  # rad/m: wavelengths 1-12.6 cm over a 4 mm layout
    n_sites=st.integers(8, 80),
    seed=st.integers(0, 10_000),
)
def test_noiseless_plane_is_recovered_on_any_irregular_layout(direction, kmag, n_sites, seed):
    pos = random_positions(n_sites, 4e-3, seed=seed)
    k = kmag * np.array([np.cos(direction), np.sin(direction)])
    t = np.linspace(0, 1, 7)
    phase = np.angle(np.exp(1j * (2 * np.pi * 10 * t[None] - (pos @ k)[:, None])))
    grad_local = phase_gradient(phase, pos)
    g, fit = fit_phase_plane(phase, pos, init=np.nanmean(grad_local, axis=1))
    np.testing.assert_allclose(-g, np.repeat(k[:, None], len(t), 1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit, 1.0, atol=1e-9)
    d = propagation_direction(g)
    assert np.all(np.abs(np.angle(np.exp(1j * (d - direction)))) < 1e-6)
    np.testing.assert_allclose(phase_gradient_directionality(grad_local), 1.0, atol=1e-6)
