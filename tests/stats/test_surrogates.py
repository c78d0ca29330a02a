"""Surrogate fields keep what they promise and destroy the travelling wave."""

import numpy as np
import pytest

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, planar_wave
from wavescope.stats.surrogates import (
    randomise_phases,
    shift_times,
    shuffle_positions,
    surrogate_test,
    surrogates,
)
from wavescope.waves import measure_velocity


@pytest.fixture(scope="module")
def wave():
    # 6 x 6 grid, 1 mm pitch, 10 Hz plane wave at 0.2 m/s (wavelength 20 mm), SNR 10 dB.
    f = planar_wave(
        grid_positions(6, 6, 1e-3),
        fs=200,
        duration=3,
        frequency=10,
        speed=0.2,
        direction=0.5,
        snr_db=10,
        seed=0,
        dtype=np.float64,
    )
    bad = np.zeros(f.n_sites, bool)
    bad[3] = True
    return f.with_bad(bad)


def test_phase_randomisation_keeps_each_sites_amplitude_spectrum_exactly(wave):
    s = randomise_phases(wave, seed=1)
    good = wave.good
    a0 = np.abs(np.fft.rfft(wave.data[good], axis=1))
    a1 = np.abs(np.fft.rfft(s.data[good], axis=1))
    # float64 FFT round trip: agreement to 1e-9 of the largest coefficient.
    np.testing.assert_allclose(a1, a0, atol=1e-9 * a0.max())
    np.testing.assert_allclose(s.data[good].mean(1), wave.data[good].mean(1), atol=1e-12)
    assert not np.allclose(s.data[good], wave.data[good])
    np.testing.assert_array_equal(s.data[3], wave.data[3])  # the bad site is untouched
    assert s.space_unit == wave.space_unit and s.fs == wave.fs


def test_common_phase_randomisation_keeps_cross_spectra(wave):
    # Same random phase at every site: x_i x_j^* is unchanged for every bin.
    s = randomise_phases(wave, seed=2, common=True)
    g = wave.good
    c0 = np.fft.rfft(wave.data[g], axis=1)
    c1 = np.fft.rfft(s.data[g], axis=1)
    cross0 = c0[0] * np.conj(c0[5])
    cross1 = c1[0] * np.conj(c1[5])
    np.testing.assert_allclose(cross1, cross0, atol=1e-8 * np.abs(cross0).max())


def test_time_shifts_are_circular_rotations_within_bounds(wave):
    s = shift_times(wave, seed=3, min_shift=50)
    n = wave.n_times
    for i in wave.good:
        # find the lag by exhaustive search over all rotations (independent of the code)
        errs = [np.max(np.abs(np.roll(wave.data[i], k) - s.data[i])) for k in range(n)]
        k = int(np.argmin(errs))
        assert errs[k] == 0
        assert 50 <= k <= n - 50
    np.testing.assert_array_equal(s.data[3], wave.data[3])
    with pytest.raises(WaveInputError, match="min_shift"):
        shift_times(wave, min_shift=n)


def test_position_shuffle_permutes_good_sites_only(wave):
    s = shuffle_positions(wave, seed=4)
    g = wave.good
    np.testing.assert_array_equal(s.data, wave.data)
    np.testing.assert_array_equal(s.positions[3], wave.positions[3])
    key = lambda p: sorted(map(tuple, np.round(p, 12)))  # noqa: E731
    assert key(s.positions[g]) == key(wave.positions[g])
    assert not np.array_equal(s.positions[g], wave.positions[g])


def test_every_surrogate_destroys_the_plane_wave(wave):
    # Measured PGD of the wave is near 1; each surrogate kind must bring it well below
    # (at 36 sites, PGD of unrelated phases is ~0.1-0.3). Common-phase surrogates keep
    # the lags, hence the wave: a control that the measure is not simply broken.
    def pgd(f):
        return float(np.median(measure_velocity(f, (8, 12), n_surrogates=0).pgd))

    assert pgd(wave) > 0.8
    for kind in ("positions", "phases", "shifts"):
        (s,) = list(surrogates(wave, kind, n=1, seed=5))
        assert pgd(s) < 0.5, kind
    assert pgd(randomise_phases(wave, seed=6, common=True)) > 0.8


def test_surrogates_are_reproducible_and_checked(wave):
    a = [s.data for s in surrogates(wave, "phases", n=2, seed=7)]
    b = [s.data for s in surrogates(wave, "phases", n=2, seed=7)]
    assert len(a) == 2 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1])
    with pytest.raises(WaveInputError, match="kind"):
        next(surrogates(wave, "bogus"))
    with pytest.raises(WaveInputError, match="WaveField"):
        randomise_phases(np.zeros((3, 10)))
    assert isinstance(shuffle_positions(wave), WaveField)


def _neighbour_corr(f):
    """Mean zero-lag correlation of neighbouring sites on a line (cheap wave statistic)."""
    x = f.data - f.data.mean(1, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return float(np.mean(np.sum(x[:-1] * x[1:], axis=1)))


def test_surrogate_test_holds_nominal_rate_and_detects_a_wave():
    # Null: independent AR(1) noise at 8 sites on a line (a stationary linear Gaussian
    # process without inter-site structure), 300 datasets, 19 phase surrogates each
    # (smallest p 0.05): rejections at p <= 0.05 stay within the 99.9% binomial bound.
    from scipy import stats
    from scipy.signal import lfilter

    rng = np.random.default_rng(20)
    n_sim = 300
    hits = 0
    for _ in range(n_sim):
        data = lfilter([1.0], [1.0, -0.8], rng.standard_normal((8, 256)), axis=1)
        f = WaveField.from_line(data)
        hits += surrogate_test(f, _neighbour_corr, "phases", n=19, seed=rng).p_value <= 0.05
    assert hits <= stats.binom.ppf(0.999, n_sim, 0.05)
    # a slow wave along the line (neighbour lag 0.3 rad) plus noise: every surrogate
    # falls below it, so p reaches its floor 1/(n + 1).
    t = np.arange(256)
    wave = np.cos(2 * np.pi * 0.05 * t[None, :] - 0.3 * np.arange(8)[:, None])
    f = WaveField.from_line(wave + 0.3 * rng.standard_normal((8, 256)))
    for kind in ("phases", "shifts"):
        res = surrogate_test(f, _neighbour_corr, kind, n=19, seed=1)
        assert res.p_value == pytest.approx(1 / 20) and res.null.shape == (19,)
