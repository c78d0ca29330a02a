"""Dimensionless wave properties: unit-free, unit-checked, one row per recording."""

import numpy as np
import pytest

from wavescope.core.field import WaveField
from wavescope.core.properties import DIMENSIONLESS, RAW
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, line_pulses, noise_field, planar_wave
from wavescope.pipelines.properties import wave_properties
from wavescope.space.neighbours import site_spacing
from wavescope.stats.compare import check_same_unit
from wavescope.stats.tests import mixed_effects, permutation_test
from wavescope.waves import measure_velocity

PITCH, FS, F0, SPEED = 1e-3, 200.0, 10.0, 0.2  # m, Hz, Hz, m/s: wavelength 20 mm


def _cortex(seed=0, speed=SPEED, direction=0.5):
    return planar_wave(
        grid_positions(6, 6, PITCH),
        fs=FS,
        duration=4,
        frequency=F0,
        speed=speed,
        direction=direction,
        snr_db=10,
        seed=seed,
        dtype=np.float64,
    )


def _as_model(f: WaveField) -> WaveField:
    """The same samples read as a hidden state: one site per grid point, one step per sample."""
    return WaveField.from_array(
        f.data, 1.0, f.positions / PITCH, space_unit="site", time_unit="step"
    )


def test_dimensionless_properties_do_not_depend_on_units():
    f = _cortex()
    cortex = wave_properties([f], "cortex", band=(8, 12), n_surrogates=5)
    # the band in cycles per step: 8-12 Hz at 200 samples/s
    model = wave_properties([_as_model(f)], "model", band=(8 / FS, 12 / FS), n_surrogates=5)
    for k in DIMENSIONLESS:
        # the computation is identical up to floating-point rescaling: 1e-6 relative
        assert model[k][0] == pytest.approx(cortex[k][0], rel=1e-6, abs=1e-9, nan_ok=True), k
    # and they match the truth of the plane wave. Speed in sites per cycle =
    # speed / (pitch * f) = 0.2 / (1e-3 * 10) = 20; the estimator is within 2% at 10 dB.
    row = cortex.iloc[0]
    assert row["speed_sites_per_cycle"] == pytest.approx(SPEED / (PITCH * F0), rel=0.02)
    extent = 5 * np.sqrt(2) * PITCH  # diagonal of a 6 x 6 grid
    assert row["wavelength_per_extent"] == pytest.approx(SPEED / F0 / extent, rel=0.02)
    assert row["direction_mean"] == pytest.approx(0.5, abs=0.02)
    assert row["direction_concentration"] > 0.99 and row["pgd_median"] > 0.9
    assert row["wave_fraction"] > 0.9
    # raw properties carry their units
    assert row["speed_median"] == pytest.approx(SPEED, rel=0.02)
    assert row["speed_median_unit"] == "m/s" and model["speed_median_unit"][0] == "sites/step"
    assert model["speed_median"][0] == pytest.approx(SPEED / PITCH / FS, rel=0.02)
    assert row["frequency_median"] == pytest.approx(F0, rel=0.01)
    assert row["spacing"] == pytest.approx(PITCH) and row["extent"] == pytest.approx(extent)


def test_mixed_units_are_refused_unless_dimensionless():
    f = _cortex()
    m = _as_model(f)
    with pytest.raises(WaveInputError, match="dimensionless=True"):
        wave_properties({"cortex": [f], "model": [m]}, n_surrogates=0, band=(8, 12))
    kw = dict(n_surrogates=0)
    table = wave_properties(
        [(measure_velocity(f, (8, 12), **kw), f), (measure_velocity(m, (0.04, 0.06), **kw), m)],
        ["cortex", "model"],
        dimensionless=True,
    )
    assert list(table["group"]) == ["cortex", "model"]
    assert not any(k in table.columns for k in RAW)
    assert check_same_unit(table, "speed_sites_per_cycle") == "sites/cycle"
    assert np.isnan(table["wave_fraction"]).all()  # no surrogates: no epochs, no fraction


def test_convertible_units_are_converted_to_the_first_recording():
    f = _cortex()
    mm = f.to_space_unit("mm")
    table = wave_properties([f, mm], ["m", "mm"], band=(8, 12), n_surrogates=0)
    assert set(table["speed_median_unit"]) == {"m/s"}
    assert list(table["space_unit"]) == ["m", "mm"]  # the recordings' own units are kept
    # the same wave measured in mm, converted back to m/s: equal to rounding
    assert table["speed_median"][1] == pytest.approx(table["speed_median"][0], rel=1e-6)
    assert table["spacing"][1] == pytest.approx(PITCH)


def test_precomputed_results_give_the_same_row_as_fields():
    f = _cortex(seed=3)
    kw = dict(band=(8, 12), n_surrogates=4, seed=1)
    a = wave_properties([f], **kw)
    b = wave_properties([(measure_velocity(f, **kw), f)])
    for k in list(DIMENSIONLESS) + list(RAW):
        assert a[k][0] == pytest.approx(b[k][0], nan_ok=True), k


def test_broadband_speed_is_per_cycle_of_the_measured_frequency():
    # pulses at 0.5 sites/step on a line; event-time speed / (spacing * f), f the median
    # instantaneous frequency of the analysis band: the same period as the phase methods
    f = line_pulses(32, speed=0.5, n_steps=600, n_pulses=4, seed=0, snr_db=20)
    res = measure_velocity(f, method="event-time", n_surrogates=0)
    row = wave_properties([(res, f)], "model").iloc[0]
    assert row["speed_median"] == pytest.approx(0.5, rel=0.01)
    f_med = res.cycles_per_time()
    expect = np.median(res.broadband.speeds) / f_med
    assert row["speed_sites_per_cycle"] == pytest.approx(expect, rel=1e-9)
    assert site_spacing(f.positions) == 1.0
    # the result's own speed and direction are the broadband method's (issue 10)
    np.testing.assert_array_equal(res.speed, res.broadband.speeds)
    assert res.summary()["speed"]["median"] == pytest.approx(np.median(res.broadband.speeds))


def test_table_feeds_group_tests_and_finds_a_speed_difference():
    # Two groups of 5 recordings differing in speed (0.15 vs 0.25 m/s, i.e. 15 vs 25
    # sites per cycle); the speed measurement error is ~1%, so an exact permutation
    # test on 5 + 5 reaches its smallest two-sided p = 2/252.
    slow = [_cortex(seed=s, speed=0.15) for s in range(5)]
    fast = [_cortex(seed=10 + s, speed=0.25) for s in range(5)]
    table = wave_properties({"slow": slow, "fast": fast}, band=(8, 12), n_surrogates=0)
    assert list(table["name"][:2]) == ["slow-0", "slow-1"]
    x = table.loc[table["group"] == "fast", "speed_sites_per_cycle"]
    y = table.loc[table["group"] == "slow", "speed_sites_per_cycle"]
    res = permutation_test(x, y)
    assert res.exact and res.p_value == pytest.approx(2 / 252)
    assert res.statistic == pytest.approx(10, rel=0.05)
    # the table is the input of the mixed model (each recording its own subject here
    # would leave no repeated measures; use pairs of recordings per subject)
    table["subject"] = [f"s{i // 2}" for i in range(10)]
    me = mixed_effects(table, "speed_sites_per_cycle", "group", "subject", reference="slow")
    assert me.effects["fast"]["estimate"] == pytest.approx(10, rel=0.05)


def test_noise_has_low_pgd_and_bad_inputs_are_refused():
    noise = noise_field(grid_positions(6, 6, PITCH), fs=FS, duration=4, seed=0)
    row = wave_properties(noise, band=(8, 12), n_surrogates=0).iloc[0]
    assert row["pgd_median"] < 0.5
    with pytest.raises(WaveInputError, match="WaveField"):
        wave_properties([np.zeros((4, 100))])
    with pytest.raises(WaveInputError, match="groups has 1 labels for 2"):
        wave_properties([noise, noise], ["a"], band=(8, 12))
    with pytest.raises(WaveInputError, match="samples"):
        wave_properties([noise], samples="some")
    with pytest.raises(WaveInputError, match="several units"):
        check_same_unit({"speed_median_unit": ["m/s", "sites/step"]}, "speed_median")


def test_wave_samples_only():
    # a plane wave for the first 2 s, noise after: with samples="waves" only the wave
    # half is summarised, so the speed is the wave's even though half the record is noise.
    f = _cortex(seed=4)
    data = f.data.copy()
    rng = np.random.default_rng(0)
    data[:, 400:] = rng.standard_normal((f.n_sites, f.n_times - 400))
    g = f.with_data(data)
    every = wave_properties(g, band=(8, 12), n_surrogates=10, samples="all").iloc[0]
    waves = wave_properties(g, band=(8, 12), n_surrogates=10, samples="waves").iloc[0]
    auto = wave_properties(g, band=(8, 12), n_surrogates=10).iloc[0]
    assert auto["speed_median"] == waves["speed_median"]  # the default is the wave epochs
    assert 0.2 < every["wave_fraction"] < 0.7
    assert waves["n_samples"] < 0.7 * every["n_samples"]
    assert waves["speed_sites_per_cycle"] == pytest.approx(20, rel=0.03)
    assert waves["direction_concentration"] > every["direction_concentration"]
    with pytest.raises(WaveInputError, match="n_surrogates > 0"):
        wave_properties(g, band=(8, 12), n_surrogates=0, samples="waves")
