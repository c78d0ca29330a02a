"""xcorr's lag sums from block cross-spectra equal the direct sums, and bandpass equals the
real part of the analytic signal (issue 21, item 5: the same cross-check, cheaper)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sfft

import wavescope.waves.broadband as bb
from wavescope.datasets import grid_positions, planar_wave
from wavescope.signal.spectral import analytic_signal, bandpass


def _direct(x: np.ndarray, pairs: np.ndarray, lag: int) -> np.ndarray:
    """sum_t x[i, t] x[j, t + l] by definition (zero outside the record)."""
    n = x.shape[1]
    out = np.zeros((len(pairs), 2 * lag + 1))
    for p, (i, j) in enumerate(pairs):
        for m, lg in enumerate(range(-lag, lag + 1)):
            t = np.arange(max(0, -lg), min(n, n - lg))
            out[p, m] = np.dot(x[i, t], x[j, t + lg])
    return out


@pytest.mark.parametrize("seed", range(6))
def test_blocked_lag_sums_equal_the_direct_sums(seed):
    rng = np.random.default_rng(seed)
    n_sites, lag = int(rng.integers(3, 9)), int(rng.integers(1, 12))
    n_fft = sfft.next_fast_len(max(bb.BLOCK_LAGS * (2 * lag + 1), 64), real=True)
    n = int(rng.integers(bb.MIN_BLOCKS * n_fft, bb.MIN_BLOCKS * n_fft + 3 * n_fft))
    data = rng.normal(size=(n_sites, n)).astype(np.float32 if seed % 2 else np.float64)
    mean = data.mean(axis=1, dtype=np.float64)
    x = bb._Centred(data, mean, 0.5)
    pairs = np.array([(i, j) for i in range(n_sites) for j in range(i + 1, n_sites)])
    pairs = pairs[rng.permutation(len(pairs))[: max(1, len(pairs) // 2)]]  # not all sites
    [(chunk, got)] = list(bb._lag_sums(x, n, pairs, lag))  # the blocked path
    np.testing.assert_array_equal(chunk, pairs)
    ref = _direct(x(slice(None)), pairs, lag)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    whole = np.concatenate([s for _, s in bb._lag_sums_whole(x(slice(None)), pairs, lag)])
    np.testing.assert_allclose(whole, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def _bandpassed_wave(side: int, duration: float, seed: int):
    """A 10 Hz plane wave at 0.3 m/s on a side x side grid, float32, band-passed 8-12 Hz."""
    f = planar_wave(
        grid_positions(side, side, 0.4e-3), fs=1000.0, duration=duration, frequency=10.0,
        speed=0.3, direction=0.5, noise_sd=1.0, seed=seed, dtype=np.float32,
    )  # fmt: skip
    return f.with_data(bandpass(f.data, f.fs, (8.0, 12.0)))


def test_xcorr_velocity_the_same_through_either_path(monkeypatch):
    g = _bandpassed_wave(4, 8.0, seed=3)
    blocked = bb.xcorr_velocity(g, max_lag=62)
    monkeypatch.setattr(bb, "MIN_BLOCKS", 10**9)  # every record cross-correlated whole
    whole = bb.xcorr_velocity(g, max_lag=62)
    for key in ("speed", "direction", "quality"):
        assert getattr(blocked, key) == pytest.approx(getattr(whole, key), rel=1e-10)
    assert blocked.details["edge_fraction"] == whole.details["edge_fraction"]
    assert blocked.details["p_value"] == pytest.approx(whole.details["p_value"], rel=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_lag_sums_in_float32_within_its_round_off(dtype):
    rng = np.random.default_rng(7)
    lag = 9
    n_fft = sfft.next_fast_len(max(bb.BLOCK_LAGS * (2 * lag + 1), 64), real=True)
    data = rng.normal(size=(5, 6 * n_fft + 17)).astype(dtype)
    x = bb._Centred(data, data.mean(axis=1, dtype=np.float64), 0.5)
    pairs = np.array([(0, 1), (3, 1), (2, 4), (0, 4)])
    ref = _direct(x(slice(None)), pairs, lag)
    [(_, got)] = list(bb._lag_sums(x, data.shape[1], pairs, lag, np.float32))
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err < 1e-5 and (err > 1e-10 or dtype == np.float64)  # float32, not float64 sums


def test_xcorr_check_only_the_same_speed_without_its_test():
    """The cross-check's light run: the speed, direction, R^2 and edge fraction of the full
    run (to float32 round-off on a float32 record), no F-test and no interval."""
    g = _bandpassed_wave(5, 20.0, seed=4)
    full = bb.xcorr_velocity(g, max_lag=41)
    light = bb.xcorr_velocity(g, max_lag=41, check_only=True)
    for key in ("speed", "direction", "quality"):
        assert getattr(light, key) == pytest.approx(getattr(full, key), rel=1e-6)
    assert light.speed != full.speed  # float32 sums: not the float64 path
    assert light.details["edge_fraction"] == full.details["edge_fraction"]
    assert "p_value" in full.details and "speed_interval" in full.details
    assert not {"p_value", "effective_sites", "speed_interval"} & set(light.details)
    g64 = g.with_data(g.data.astype(np.float64))  # float64 records keep float64 sums
    assert bb.xcorr_velocity(g64, max_lag=41, check_only=True).speed == (
        bb.xcorr_velocity(g64, max_lag=41).speed
    )


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_bandpass_is_the_real_part_of_the_analytic_signal(dtype, tol):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(11, 5003)).astype(dtype)
    ref = analytic_signal(data, 250.0, (6.0, 30.0)).real
    got = bandpass(data, 250.0, (6.0, 30.0))
    assert got.dtype == ref.dtype and got.shape == data.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_plane_f_test_and_fisher_match_scipy_stats():
    from scipy import stats

    for r2, n, dim in ((0.3, 16, 2), (0.9, 5, 1), (0.01, 200, 2)):
        stat = (r2 / dim) / ((1 - r2) / (n - dim - 1))
        assert bb._plane_f_test(r2, n, dim) == stats.f.sf(stat, dim, n - dim - 1)
    p = np.array([0.2, 0.03, 0.5])
    assert bb._fisher(p) == stats.chi2.sf(-2 * np.log(p).sum(), 2 * p.size)


def _wave(side: int = 4, duration: float = 6.0, seed: int = 2):
    return planar_wave(
        grid_positions(side, side, 0.4e-3), fs=1000.0, duration=duration, frequency=10.0,
        speed=0.3, direction=0.5, noise_sd=1.0, seed=seed, dtype=np.float32,
    )  # fmt: skip


@pytest.mark.parametrize("bad", [(), (5,)])
def test_the_compare_only_check_band_passes_from_the_phase_spectrum(bad):
    """The check's band-pass from the phase pass's spectrum (a read-out plan: longer pad and
    FFT) is bandpass's to the filter's discretisation, and bad rows are left at zero."""
    from wavescope.signal.spectral import band_spectrum, default_transition
    from wavescope.waves.routes import RouteInput, _band_passed

    f = _wave()
    f = f.with_bad(np.isin(np.arange(f.n_sites), bad))
    band = (8.0, 12.0)
    spec = band_spectrum(
        f.data, f.fs, band, transition=default_transition(band, f.fs), decimate=18, sites=f.good
    )
    got = _band_passed(f, RouteInput(band, True, compare_only=True, spectrum=spec)).data
    ref = bandpass(f.data, f.fs, band)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    good = f.good
    np.testing.assert_allclose(got[good], ref[good], rtol=0, atol=2e-3 * np.abs(ref).max())
    assert not np.array_equal(got[good], ref[good])  # the spectrum was used
    assert not got[list(bad)].any()
    # a check that may be reported (not compare-only) band-passes the record itself
    full = _band_passed(f, RouteInput(band, True, compare_only=False, spectrum=spec)).data
    np.testing.assert_array_equal(full, ref)


def test_the_auto_route_hands_its_spectrum_to_the_check_only(monkeypatch):
    from wavescope import measure_velocity
    from wavescope.waves import routes

    seen = []
    real = routes._band_passed
    monkeypatch.setattr(routes, "_band_passed", lambda f, inp: seen.append(inp) or real(f, inp))
    measure_velocity(_wave(), (8.0, 12.0), n_surrogates=0, patterns=False)
    [check] = seen  # the phase route reads no band-passed record; its xcorr check does
    assert check.compare_only and check.spectrum is not None


def test_xcorr_in_pieces_of_pairs_is_the_same(monkeypatch):
    """The lag sums' inverse and the correlations a few pairs at a time (LAG_VALUES) give
    the same lags, bit for bit, as in one piece."""
    g = _bandpassed_wave(4, 8.0, seed=3)
    whole = bb.xcorr_velocity(g, max_lag=41)
    monkeypatch.setattr(bb, "LAG_VALUES", 1)  # one pair at a time
    pieces = bb.xcorr_velocity(g, max_lag=41)
    for key in ("speed", "direction", "quality"):
        assert getattr(pieces, key) == getattr(whole, key)
    assert pieces.details == whole.details
