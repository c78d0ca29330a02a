"""Band-pass, analytic signal, instantaneous frequency and generalized phase."""

import numpy as np
import pytest
from scipy.signal import hilbert

from wavescope.core.validate import WaveInputError
from wavescope.signal import (
    analytic_signal,
    band_spectrum,
    bandpass,
    generalized_phase,
    instantaneous_frequency,
    randomise_coef_phases,
)

FS = 1000.0
T = np.arange(20000) / FS


def test_analytic_signal_matches_scipy_hilbert_on_a_tone_in_band():
    # Reference: scipy.signal.hilbert on the unfiltered tone (an in-band tone passes with
    # gain 1). Tolerance 1e-3 more than two edge-widths (2 x 1 Hz^-1) from the ends,
    # where the mirror padding's kink has rung out.
    x = np.cos(2 * np.pi * 10 * T + 0.4)[None]
    z = analytic_signal(x, FS, (8, 12))
    ref = hilbert(x, axis=1)
    np.testing.assert_allclose(z[:, 2000:-2000], ref[:, 2000:-2000], atol=1e-3)


def test_unfiltered_analytic_signal_equals_scipy_hilbert():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1001))
    np.testing.assert_allclose(analytic_signal(x, FS), hilbert(x, axis=1), atol=1e-10)


@pytest.mark.parametrize("decimate", [2, 7, 25])
def test_decimated_readout_is_exact(decimate):
    # The read-out at a reduced rate must equal the full-rate analytic signal at those
    # samples (float32 round-off only).
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 12345)).astype(np.float32)
    full = analytic_signal(x, FS, (8, 12), decimate=1)
    spec_d = band_spectrum(x, FS, (8, 12), decimate=decimate)
    spec_1 = band_spectrum(x, FS, (8, 12), decimate=1)
    if spec_d.n_fft == spec_1.n_fft and spec_d.pad == spec_1.pad:
        dec = analytic_signal(x, FS, (8, 12), decimate=decimate)
        np.testing.assert_allclose(dec, full[:, ::decimate], atol=2e-4 * np.abs(full).max())
    else:  # different padding plans: compare in the interior only
        dec = analytic_signal(x, FS, (8, 12), decimate=decimate)
        sl = slice(3000 // decimate, -3000 // decimate)
        np.testing.assert_allclose(
            dec[:, sl], full[:, ::decimate][:, sl], atol=2e-3 * np.abs(full).max()
        )


def test_band_pass_gain_inside_and_outside():
    x = (np.cos(2 * np.pi * 10 * T) + np.cos(2 * np.pi * 30 * T) + np.cos(2 * np.pi * 2 * T))[None]
    y = bandpass(x, FS, (8, 12))
    np.testing.assert_allclose(y[0, 2000:-2000], np.cos(2 * np.pi * 10 * T)[2000:-2000], atol=2e-3)


def test_instantaneous_frequency_spectral_and_difference():
    x = np.cos(2 * np.pi * (10 * T + 0.5 * T**2 / 20))[None]  # chirp 10 -> 11 Hz
    z, f = analytic_signal(x, FS, (7, 14), return_frequency=True)
    truth = 10 + T / 20
    np.testing.assert_allclose(f[0, 3000:-3000], truth[3000:-3000], atol=5e-3)
    fd = instantaneous_frequency(z, FS)
    np.testing.assert_allclose(fd[0, 3000:-3000], truth[3000:-3000], atol=5e-3)


def test_band_above_nyquist_and_other_bad_input():
    x = np.zeros((2, 100))
    with pytest.raises(WaveInputError, match="Nyquist"):
        analytic_signal(x, 100.0, (10, 50))
    with pytest.raises(WaveInputError, match="lo < hi"):
        analytic_signal(x, 100.0, (20, 10))
    with pytest.raises(WaveInputError, match="n_sites, n_times"):
        analytic_signal(np.zeros(100), 100.0, (1, 10))
    with pytest.raises(WaveInputError, match="fs"):
        analytic_signal(x, 0.0, (1, 10))


def test_generalized_phase_removes_backward_phase_and_keeps_clean_phase():
    # A 10 Hz carrier plus a faster, weaker riding wave makes the analytic phase run
    # backwards at times (negative instantaneous frequency); generalized phase must not,
    # and must follow the carrier's phase more closely (mean error down by >= 15%).
    x = np.cos(2 * np.pi * 10 * T) + 0.5 * np.cos(2 * np.pi * 31 * T + 1.0)
    z = analytic_signal(x[None], FS, (5, 40))
    inner = slice(2000, -2000)
    f_raw = instantaneous_frequency(z, FS)[0, inner]
    assert (f_raw < 0).mean() > 0.1
    zgp = generalized_phase(z, FS)
    f_gp = instantaneous_frequency(zgp, FS)[0, inner]
    assert (f_gp < 0).mean() == 0
    carrier = np.exp(-2j * np.pi * 10 * T[inner])
    err_raw = np.abs(np.angle(z[0, inner] * carrier)).mean()
    err_gp = np.abs(np.angle(zgp[0, inner] * carrier)).mean()
    assert err_gp < 0.85 * err_raw
    np.testing.assert_allclose(np.abs(zgp), np.abs(z), rtol=1e-6)
    # a clean tone is left unchanged
    zt = analytic_signal(np.cos(2 * np.pi * 10 * T)[None], FS, (5, 40))
    np.testing.assert_allclose(generalized_phase(zt, FS), zt, atol=1e-6)


def test_randomised_phases_keep_each_sites_spectrum():
    rng = np.random.default_rng(3)
    c = rng.standard_normal((5, 100)) + 1j * rng.standard_normal((5, 100))
    s = randomise_coef_phases(c, 0)
    np.testing.assert_allclose(np.abs(s), np.abs(c), rtol=1e-12)
    assert np.abs(np.angle(s / c)).mean() > 1.0


def test_spectral_continuum_drops_lines_and_follows_edges():
    from wavescope.signal.spectral import spectral_continuum

    f = np.arange(200) * 0.05  # Hz
    rng = np.random.default_rng(0)
    floor = np.where(f < 7.0, 1.0, 0.0) * rng.chisquare(4, f.size) / 4
    p = floor.copy()
    p[100:103] += 1e4  # a line and its leakage at 5 Hz
    c = spectral_continuum(p, f, 1.0)
    # the line is gone: the continuum stays within the floor's spread there
    assert c[95:108].max() < 2.0
    # a step is followed on its low side, never widened: zero past the edge
    assert np.all(c[f >= 7.0] == 0) and c[f < 6.0].min() > 0
