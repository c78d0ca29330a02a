"""Wave epochs keep their false-positive rate on fields that do not propagate.

The null classes are the ones real recordings have without a travelling wave: white
noise, spatially smooth band-limited noise (correlated at zero lag), a zero-lag
synchronous oscillation in white noise and a standing wave in white noise. Each is called
"wave" in at most ``alpha`` of its samples on average (plus slack for the correlation of
neighbouring samples: the mean over seeds of a per-record fraction whose standard
deviation, measured over 10 seeds, is about 0.03), while a travelling wave riding on the
same smooth noise, or on white noise, is found.
"""

import numpy as np
import pytest

from wavescope.datasets import (
    grid_positions,
    noise_field,
    planar_wave,
    smooth_noise,
    standing_wave,
    synchronous_field,
)
from wavescope.waves import measure_velocity

POS = grid_positions(8, 8, 0.4e-3)  # a Utah-like 8 x 8 grid
FS, DUR, BAND, ALPHA = 500.0, 20.0, (8.0, 12.0), 0.05
SEEDS = range(4)


def _null(kind, seed):
    rng = np.random.default_rng(50 + seed)
    if kind == "white":
        return noise_field(POS, fs=FS, duration=DUR, seed=seed)
    if kind == "smooth":
        return smooth_noise(POS, fs=FS, duration=DUR, band=(6, 14), length_scale=1.5e-3, seed=seed)
    if kind == "synchronous":
        return synchronous_field(POS, fs=FS, duration=DUR, frequency=10, snr_db=0, seed=seed)
    d = rng.uniform(0, np.pi)
    return standing_wave(
        POS, fs=FS, duration=DUR, frequency=10, wavelength=4e-3, direction=d, snr_db=0, seed=seed
    )


@pytest.mark.parametrize("kind", ["white", "smooth", "synchronous", "standing"])
def test_fields_without_propagation_are_waves_in_at_most_alpha_of_samples(kind):
    fractions = [
        measure_velocity(_null(kind, s), BAND, method="phase-gradient").summary()["wave_fraction"]
        for s in SEEDS
    ]
    # measured over 10 seeds (mean, max): white 0.002, 0.010; smooth 0.024, 0.089;
    # synchronous 0.001, 0.012; standing 0.032, 0.065 (before the null followed the
    # data's continuum with enough surrogates: smooth 0.07, 0.25). The mean of 4 seeds
    # stays within alpha + 0.03 (about 2 standard errors of a per-record fraction, whose
    # sd over seeds is up to 0.03)
    assert np.mean(fractions) <= ALPHA + 0.03, fractions


def test_smooth_noise_measured_with_no_options_is_not_called_a_wave():
    """What ``wavescope velocity FILE`` prints with no band or method: the band is found
    around the spectral peak, often at an edge of the noise's band (e.g. 10.6-16.5 Hz for
    a 6-14 Hz noise), where the spectrum falls steeply inside the analysis band. The
    lag-free null follows that shape; with the filter's shape it called 18% of seed 3's
    samples waves. Measured over seeds 0-9: mean 0.016, max 0.066."""
    fr = [measure_velocity(_null("smooth", s)).summary()["wave_fraction"] for s in range(6)]
    assert np.mean(fr) <= ALPHA + 0.03, fr


def test_narrowband_smooth_noise_is_its_own_null():
    """Smooth noise 1 Hz wide inside an 8-12 Hz analysis band: a no-propagation field with
    a coherence time of a second, whose directions change slowly. Measured over seeds
    0-5: mean 0.015, max 0.08 (0.65 when the null had the filter's 4 Hz-wide spectrum)."""
    fr = [
        measure_velocity(
            smooth_noise(POS, fs=FS, duration=DUR, band=(9.5, 10.5), length_scale=1.5e-3, seed=s),
            BAND,
            method="phase-gradient",
        ).summary()["wave_fraction"]
        for s in SEEDS
    ]
    assert np.mean(fr) <= ALPHA + 0.03, fr


@pytest.mark.parametrize("duration", [4.0, 20.0])
def test_a_sustained_wave_is_found_in_short_and_long_records(duration):
    """A sustained oscillation is one line in the spectrum: the null leaves the line out
    of its spectrum (a null built on it persists as long as the wave), so a clean wave is
    found even in 4 s, at every SNR from 0 to 30 dB (broadband white noise of sd 1)."""
    w = planar_wave(POS, fs=FS, duration=duration, frequency=10.3, speed=0.3, direction=0.5)
    for snr in (0, 30):
        noise = noise_field(POS, fs=FS, duration=duration, seed=1).data
        f = w.with_data(w.data / np.std(w.data) * 10 ** (snr / 20) + noise)
        s = measure_velocity(f).summary()
        assert s["wave_fraction"] > 0.95, (snr, s["wave_fraction"])
        assert s["speed"]["median"] == pytest.approx(0.3, rel=0.03)


def test_phase_randomised_null_calls_smooth_noise_a_wave():
    # why the default null keeps the spatial correlation: randomising each site's phases
    # independently destroys it, and spatially smooth noise then passes as a wave
    f = _null("smooth", 0)
    r = measure_velocity(f, BAND, method="phase-gradient", null="phase-randomised")
    assert r.summary()["wave_fraction"] > 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_a_travelling_wave_on_the_same_smooth_noise_is_found(seed):
    rng = np.random.default_rng(seed)
    sm = smooth_noise(POS, fs=FS, duration=DUR, band=(6, 14), length_scale=1.5e-3, seed=seed)
    w = planar_wave(
        POS, fs=FS, duration=DUR, frequency=10, speed=0.3, direction=rng.uniform(-np.pi, np.pi)
    )
    out = {}
    for db in (6, 10):  # wave power over the smooth noise's
        a = 10 ** (db / 20)
        f = w.with_data(a * w.data / np.std(w.data) + sm.data / np.std(sm.data))
        out[db] = measure_velocity(f, BAND, method="phase-gradient").summary()["wave_fraction"]
    # measured (seeds 0, 1): 6 dB 0.68-0.97, 10 dB 0.95-1.00; at 0 dB 0.16-0.52 (over
    # seeds 0-5 with the wave at 0.3 m/s in a random direction: 0 dB 0.84-0.90, 3 dB
    # 0.91-0.95, 6 dB 0.97-0.98, unchanged by the null's continuum spectrum)
    assert out[6] > 0.6 and out[10] > 0.9, out


def test_a_wave_in_white_noise_is_found_and_its_patterns_agree():
    f = planar_wave(
        POS, fs=FS, duration=DUR, frequency=10, speed=0.3, direction=0.7, snr_db=0, seed=3
    )
    s = measure_velocity(f, BAND).summary()
    assert s["wave_fraction"] > 0.95
    # a long wavelength (30 mm on a 2.8 mm grid) looks nearly in phase; inside the wave
    # epochs it is not called synchronous, so classes and wave fraction agree
    assert s["patterns"]["synchronous"] <= 1 - s["wave_fraction"] + 1e-9
    assert s["speed"]["median"] == pytest.approx(0.3, rel=0.03)


def test_summary_speed_comes_from_wave_epochs_with_the_selection_named():
    f = planar_wave(POS, fs=FS, duration=DUR, frequency=10, speed=0.3, direction=0.7, seed=3)
    data = f.data.copy()
    half = f.n_times // 2
    sync = synchronous_field(POS, fs=FS, duration=DUR, frequency=10, seed=3).data
    data[:, half:] = sync[:, half:]  # the second half does not propagate
    g = f.with_data(data + 0.1 * np.random.default_rng(0).standard_normal(data.shape))
    s = measure_velocity(g, BAND).summary()
    assert 0.3 < s["wave_fraction"] < 0.6
    assert "wave epochs" in s["speed"]["selection"] and s["samples_summarised"] == "waves"
    assert s["speed"]["median"] == pytest.approx(0.3, rel=0.03)
    # the all-sample values are kept under their own key: the flat half (no phase
    # gradient: huge apparent speeds) spreads them far above the wave's
    assert s["speed_all_samples"]["q75"] > 3 * 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_few_epochs_in_strong_in_band_noise_warn_and_all_samples_stay_unbiased(seed):
    """A 10 Hz plane wave at 0.3 m/s on a 10 x 10 grid of 0.4 mm with white noise inside the
    8-12 Hz band at 5 dB (analyses/speed_bias.py): the wave spans 0.75 rad across the
    array, so PGD rarely passes the null (epochs 2-7% of the time) and the epochs' speed
    carried -2% to -15%. The median over all samples stays within 3% (measured -1.2% to
    +0.9%; the recording's Cramer-Rao sd is 1.9%), and the summary warns whenever few
    epochs give a speed more than 5% from it."""
    from wavescope.signal.spectral import bandpass
    from wavescope.waves.velocity import FEW_EPOCHS, SELECTION_TOLERANCE

    pos = grid_positions(10, 10, 0.4e-3)
    rng = np.random.default_rng(seed)
    d = rng.uniform(-np.pi, np.pi)
    w = planar_wave(pos, fs=FS, duration=DUR, frequency=10, speed=0.3, direction=d)
    n = bandpass(rng.standard_normal(w.data.shape), FS, BAND)
    n = n / np.std(n) * np.std(w.data) / 10 ** (5 / 20)
    s = measure_velocity(w.with_data(w.data + n), BAND).summary()
    assert s["speed_all_samples"]["median"] == pytest.approx(0.3, rel=0.03)
    sp = s["speed"]["median"]
    few = s["wave_fraction"] < FEW_EPOCHS
    off = sp is not None and abs(sp / s["speed_all_samples"]["median"] - 1) > SELECTION_TOLERANCE
    # a coherent headline selects no sample by PGD: nothing to warn about
    coherent = bool((s.get("coherent") or {}).get("reported"))
    assert any("wave epochs cover only" in w for w in s["warnings"]) == (
        few and off and not coherent
    )
    if coherent:
        assert sp == pytest.approx(0.3, rel=0.05)


def test_pink_noise_on_a_short_uneven_line_prints_at_most_alpha_of_its_records():
    # The bank's "pink uneven-line pink 0dB" null read by the phase route: the automatic
    # band sits at the bottom of the 1/f spectrum (0.43-0.67 Hz, 7 coherence times in
    # 30 s), too few windows for the coherent test, so the wave fraction decides. One
    # record's wave fraction is then a few epochs or none (0.12-0.26 in about a quarter
    # of the records): the old rule (a speed wherever it exceeds alpha) printed in 8 of
    # these 40; the surrogates' own wave fractions set the limit now. A record-level test
    # at alpha prints in at most the binomial 99% quantile (6 of 40) -- seeds away from
    # the bank's own 0-9.
    from scipy.stats import binom

    from wavescope.datasets.bank import bank_cells, bank_field

    cell = next(c for c in bank_cells("breadth") if c.name == "pink uneven-line pink 0dB")
    seeds = range(200, 240)
    printed = 0
    for seed in seeds:
        s = measure_velocity(bank_field(cell, seed), method="phase-gradient").summary()
        printed += s["speed"]["median"] is not None
    assert printed <= binom.ppf(0.99, len(seeds), ALPHA)
