"""The neural-field simulation: known conduction speed, intermittent waves, seeded."""

import numpy as np
import pytest

from wavescope import measure_velocity
from wavescope.core.validate import WaveInputError
from wavescope.datasets import neural_field, random_positions


@pytest.mark.parametrize("speed", [0.2, 0.6])
def test_speed_in_wave_epochs_within_10pct_of_conduction_speed(speed):
    field = neural_field(speed=speed, duration=20.0, seed=1)
    result = measure_velocity(field, (5.0, 15.0))
    s = result.summary("waves")
    # Every burst travels at exactly c (pure delays, no dispersion), so the error comes only
    # from the measure: noise, overlapping bursts and the curvature of radial waves from
    # sources on the array (whose plane fit reads them faster). Measured over seeds 0-2 and
    # c = 0.2-0.6 m/s: within 4 %; 10 % leaves room for other seeds and platforms.
    assert s["speed"]["unit"] == "m/s"
    assert s["speed"]["median"] == pytest.approx(speed, rel=0.10)


def test_waves_are_intermittent_and_sit_on_the_bursts():
    field = neural_field(speed=0.3, duration=20.0, seed=2)
    result = measure_velocity(field, (5.0, 15.0))
    frac = result.summary()["wave_fraction"]
    # bursts at 1 per second, about 0.5 s long, from sources up to 15 mm away: measured
    # wave fractions 0.3-0.5; clearly neither never nor always
    assert 0.1 < frac < 0.9
    # the wave epochs found blind must be where the simulated bursts reach the array: the
    # truth envelope there is several times larger than outside (measured 12-28 x)
    env = field.meta["truth"]["envelope"][result.index]
    inside = env[result.wave & result.valid].mean()
    outside = env[~result.wave & result.valid].mean()
    assert inside > 3 * outside
    # directions vary from burst to burst (sources all around): no single direction
    assert result.summary()["direction"]["concentration"] < 0.5


def test_deterministic_per_seed_and_seed_changes_it():
    a = neural_field(duration=4.0, seed=7)
    b = neural_field(duration=4.0, seed=7)
    c = neural_field(duration=4.0, seed=8)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.meta["truth"]["events"] == b.meta["truth"]["events"]
    assert not np.allclose(a.data, c.data)


def test_irregular_layout_speed_within_10pct():
    # same physics on an irregular layout (weighted least-squares gradients); tolerance as
    # in the grid test
    pos = random_positions(80, 9e-3, seed=0)
    field = neural_field(pos, speed=0.4, duration=20.0, seed=3)
    assert field.data.shape == (80, 10000) and field.space_unit == "m"
    s = measure_velocity(field, (5.0, 15.0)).summary("waves")
    assert s["speed"]["median"] == pytest.approx(0.4, rel=0.10)


def test_bad_parameters_are_refused():
    with pytest.raises(WaveInputError, match="band"):
        neural_field(band=(20.0, 10.0))
    with pytest.raises(WaveInputError, match="positions"):
        neural_field(np.zeros((5, 3)))
    with pytest.raises(WaveInputError, match="speed"):
        neural_field(speed=-1.0)


# --- the Davis et al. 2021 reference loader (wavescope.datasets.davis2021) ---


def test_davis_speeds_match_the_published_summary(monkeypatch):
    from paths import DAVIS2021

    from wavescope.datasets import read_davis2021_speeds, read_davis2021_wavelengths

    if not DAVIS2021.is_dir():
        pytest.skip(f"{DAVIS2021} absent (../shared/data is not part of a fresh clone)")
    # the folder found through the environment variable, as a user would set it
    monkeypatch.setenv("WAVESCOPE_DAVIS2021", str(DAVIS2021))
    s = read_davis2021_speeds().summary()
    # ../shared/data/davis2021_speeds/SOURCE.md: mode 0.167, median 0.29, IQR 0.17-0.48 m/s
    # (2 significant digits there, so 2 % tolerance)
    assert s["mode"] == pytest.approx(0.167, rel=0.02)
    assert s["median"] == pytest.approx(0.29, rel=0.02)
    assert s["q25"] == pytest.approx(0.17, rel=0.02)
    assert s["q75"] == pytest.approx(0.48, rel=0.02)
    # SOURCE.md: wavelength median about 6.7 mm
    assert np.median(read_davis2021_wavelengths()) == pytest.approx(6.7e-3, rel=0.02)


def test_davis_loader_refuses_absent_and_corrupt_files(tmp_path, monkeypatch):
    from wavescope.datasets import read_davis2021_speeds, read_davis2021_wavelengths

    monkeypatch.delenv("WAVESCOPE_DAVIS2021", raising=False)
    with pytest.raises(FileNotFoundError, match="WAVESCOPE_DAVIS2021"):
        read_davis2021_speeds()  # neither a path nor the variable: the message names both

    with pytest.raises(WaveInputError, match="not shipped"):
        read_davis2021_speeds(tmp_path / "missing.mat")
    with pytest.raises(WaveInputError, match="no file matching"):
        read_davis2021_wavelengths(tmp_path)
    bad = tmp_path / "x-speed_density.mat"
    bad.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:0\n")
    with pytest.raises(WaveInputError, match="could not read"):
        read_davis2021_speeds(tmp_path)
    from scipy.io import savemat

    savemat(bad, {"speed_range": np.linspace(0, 1, 5)})
    with pytest.raises(WaveInputError, match="lacks"):
        read_davis2021_speeds(bad)
    savemat(bad, {"speed_range": np.linspace(0, 1, 5), "k": -np.ones(5)})
    with pytest.raises(WaveInputError, match="non-negative"):
        read_davis2021_speeds(bad)


def test_the_simulated_cortex_reads_its_speed_with_no_options():
    """The main job's neural field (bursts of 7-13 Hz waves at 0.3 m/s in 1/f noise) with
    no options: the route follows the peak above the 1/f fit and the median over seeds
    reads within 5% (ten seeds read +0.3% to +7.8%, median +3.6%; event times, the old
    automatic route, read -20%). Each seed within 10%: the sources lie on a 15 mm disc
    around a 9 mm array, so many fronts are curved across it and a plane fitted to a
    curved front is faster than the local speed (see the planar-source test below)."""
    errors = []
    for seed in range(6):
        s = measure_velocity(neural_field(seed=seed)).summary()
        assert s["method_choice"]["chosen"] == "phase-gradient"
        errors.append(s["speed"]["median"] / 0.3 - 1)
    assert np.all(np.abs(errors) < 0.10), errors
    assert abs(np.median(errors)) < 0.05, errors


def test_the_simulated_cortex_with_distant_sources_reads_its_speed_to_3pct():
    """With the sources on a 300 mm disc (most of them over 100 mm away: near-planar
    fronts over the array; attenuation length 1 m so the bursts keep their amplitude),
    the bias goes and each seed reads within 3% (six seeds: -1.3% to +2.5%): what remains
    with near sources is the fronts' curvature, not the estimator."""
    for seed in range(4):
        field = neural_field(seed=seed, source_radius=0.3, attenuation_length=1.0)
        s = measure_velocity(field).summary()
        assert s["speed"]["median"] == pytest.approx(0.3, rel=0.03), seed
