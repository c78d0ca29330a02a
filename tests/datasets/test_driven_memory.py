"""Memory curves of a cortical sheet driven by a known input (wavescope.datasets.driven).

The truth: a site at delay D samples from the source holds the input D samples back, so a
noise-free array driven from its edge holds lags 0 .. ceil(max D) exactly and nothing
older (horizon = largest delay + 1); with white noise of SD sigma a site of gain a alone
holding a lag gives R^2 = a^2 / (a^2 + sigma^2).
"""

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from wavescope import read_npz, write_npz
from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.datasets import driven_input, driven_wave, expected_memory_r2
from wavescope.waves import memory_curve_field, xcorr_velocity

FS = 1000.0  # Hz
PITCH = 0.1  # mm: at 100 mm/s one site is one sample further from the source
N_LINE = 32
MAX_LAG = 40
N_TIMES = 4000


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def u():
    return driven_input(N_TIMES, seed=0)


def line(u, speed, **kw):
    return driven_wave(u, speed=speed, fs=FS, line=N_LINE, pitch=PITCH, **kw)


def curve(field, **kw):
    stim = field.data[field.ch_names.index("STIM")]
    return memory_curve_field(field, stim, MAX_LAG, n_boot=200, **kw)


def test_noise_free_line_horizon_is_largest_delay_plus_one(u):
    f = line(u, 100.0)
    t = f.meta["truth"]
    assert t["delay_max"] == pytest.approx(N_LINE - 1)  # 3.1 mm at 100 mm/s, 1 kHz
    assert t["horizon"] == N_LINE and t["covered"] and t["lags_held"] == [0, N_LINE - 1]
    c = curve(f)
    assert c.meta["n_sites_used"] == N_LINE  # STIM is marked bad: never a feature
    assert c.horizon == t["horizon"]  # exact
    assert c.horizon_time == pytest.approx(N_LINE / FS)
    # every held lag is read out perfectly (up to the ridge penalty), the next not at all
    assert c.score[:N_LINE].min() > 0.99 and abs(c.score[N_LINE]) < 0.01


@pytest.mark.parametrize("speed", [150.0, 200.0, 300.0])
def test_horizon_grows_as_one_over_speed(u, speed):
    f = line(u, speed)
    transit = (N_LINE - 1) * PITCH / speed * FS  # samples; fractional for these speeds
    assert f.meta["truth"]["horizon"] == int(np.ceil(transit)) + 1
    c = curve(f)
    assert c.horizon == f.meta["truth"]["horizon"]
    # horizon = transit time x fs + 1, to within the one sample of the fractional delay
    assert abs(c.horizon - 1 - transit) < 1.0


def test_point_source_in_the_middle_halves_the_horizon(u):
    # delay spread, not extent: sites either side of the source hold the same lags
    f = driven_wave(u, speed=100.0, fs=FS, line=33, pitch=PITCH, source=[1.6])
    assert f.meta["truth"]["horizon"] == 17 and f.meta["truth"]["direction"] is None
    assert curve(f).horizon == 17


def test_delays_two_samples_apart_leave_holes_and_the_horizon_stops_at_the_first(u):
    f = line(u, 50.0)  # 2 samples per site: lags 0, 2, 4, ... 62 are held, odd lags not
    assert f.meta["truth"]["horizon"] == 1 and not f.meta["truth"]["covered"]
    c = curve(f)
    assert c.horizon == 1
    assert c.above[0:MAX_LAG:2].all() and not c.above[1:MAX_LAG:2].any()


def test_spatially_correlated_noise_on_a_grid_matches_the_ideal_read_out():
    u = driven_input(10_000, seed=6)
    f = driven_wave(
        u,
        speed=200.0,
        fs=FS,
        grid=(8, 8),
        pitch=0.4,
        direction=np.arctan(1 / 8),
        noise_sd=0.5,
        noise_length=0.4,
        attenuation_length=3.0,
        seed=7,
    )
    c = curve(f)
    ideal = expected_memory_r2(f, MAX_LAG)
    # 64 features, ~9000 held-out samples: the finite training set costs ~p/n = 0.007 and
    # the estimate scatters by ~0.005 (measured max deviation 0.011); 0.03 leaves room.
    # (With 1/f noise the pooled R^2 scatters by ~0.05 around the ideal: the noise power
    # of a block is set by a few slow components.)
    assert np.abs(c.score - ideal).max() < 0.03
    assert c.horizon == f.meta["truth"]["horizon"] == 17  # 3.13 mm at 200 mm/s: 15.6 samples


def test_noisy_short_lags_follow_the_snr_formula(u):
    lam, sd = 2.0, 0.5  # attenuation length (mm), noise SD (input SD is 1)
    f = line(u, 100.0, noise_sd=sd, attenuation_length=lam, seed=1)
    c = curve(f)
    a = np.exp(-np.arange(6) * PITCH / lam)  # gain of the one site holding lag tau
    formula = a**2 / (a**2 + sd**2)
    # 32 features, ~3600 held-out samples: the estimate of R^2 scatters by ~0.01 and the
    # finite training set costs ~p/n = 0.01; 0.03 is 3 such errors
    assert np.abs(c.score[:6] - formula).max() < 0.03
    # the general formula (kernels, noise covariance, input autocovariance) agrees
    assert np.abs(expected_memory_r2(f, 5) - formula).max() < 0.01


def test_xcorr_velocity_recovers_speed_and_direction():
    u = driven_input(3000, seed=2)
    f = driven_wave(
        u, speed=300.0, fs=FS, grid=(8, 8), pitch=0.4, direction=np.pi / 2, noise_sd=0.5, seed=3
    )
    v = xcorr_velocity(f)  # the STIM channel is bad: left out
    assert v.unit == "mm/s"
    # sub-sample lags (0.4 mm = 1.33 samples per row) from 3 s of broadband drive: 3%
    assert v.speed == pytest.approx(300.0, rel=0.03)
    assert abs(np.angle(np.exp(1j * (v.direction - np.pi / 2)))) < 0.05


def test_cli_memory_on_written_field_matches_api(u, tmp_path):
    f = line(u, 200.0, noise_sd=0.2, seed=4)
    path = write_npz(tmp_path / "driven.npz", f)
    assert read_npz(path).bad.tolist() == f.bad.tolist()  # STIM stays marked
    out = tmp_path / "m.json"
    argv = ["memory", str(path), "--input-channel", "STIM", "--max-lag", str(MAX_LAG)]
    assert main(argv + ["--json", str(out)]) == 0
    s = json.loads(out.read_text())
    api = memory_curve_field(f, f.data[-1], MAX_LAG)  # the CLI defaults
    assert s["metric"] == "r2" and s["horizon"] == api.horizon
    assert s["horizon"] == f.meta["truth"]["horizon"]  # 17: noise SD 0.2 loses no lag


def test_token_input_is_scored_by_accuracy(tmp_path):
    tok = np.random.default_rng(5).integers(0, 2, N_TIMES)
    f = driven_wave(tok, speed=100.0, fs=FS, line=12, pitch=PITCH)
    assert f.meta["truth"]["input_kind"] == "tokens"
    path = write_npz(tmp_path / "tok.npz", f)
    out = tmp_path / "m.json"
    argv = ["memory", str(path), "--input-channel", "STIM", "--max-lag", "20"]
    assert main(argv + ["--json", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["metric"] == "accuracy" and s["horizon"] == 12  # tokens 0/1 -> amplitudes -1/+1


def test_bad_input_raises():
    u = driven_input(N_TIMES, seed=0)
    with pytest.raises(WaveInputError, match="cross the array"):
        driven_wave(u[:50], speed=10.0, fs=FS, line=N_LINE, pitch=PITCH)  # 310 samples needed
    v = u.copy()
    v[7] = np.nan
    with pytest.raises(WaveInputError, match="NaN"):
        driven_wave(v, speed=100.0, fs=FS, line=N_LINE, pitch=PITCH)
    for speed in (-100.0, 0.0):
        with pytest.raises(WaveInputError, match="speed"):
            driven_wave(u, speed=speed, fs=FS, line=N_LINE, pitch=PITCH)
    with pytest.raises(WaveInputError, match="dispersion"):
        driven_wave(u, speed=100.0, fs=FS, line=N_LINE, pitch=PITCH, dispersion=-1)
    with pytest.raises(WaveInputError, match="1-D"):
        driven_wave(u.reshape(2, -1), speed=100.0, fs=FS, line=N_LINE, pitch=PITCH)


def test_noise_has_the_stated_spatial_correlation_and_spectrum(u):
    kw = dict(speed=100.0, fs=FS, line=8, pitch=0.4, noise_sd=2.0, noise_length=0.4, seed=8)
    clean = driven_wave(u, **{**kw, "noise_sd": 0.0}).data[:-1].astype(float)
    noise = driven_wave(u, **kw).data[:-1] - clean
    r = np.corrcoef(noise)
    # neighbours 0.4 mm apart, Gaussian correlation exp(-0.5 (0.4 / 0.4)^2) = 0.61; the
    # correlation of 4000 white samples has SD ~0.01
    assert np.mean(np.diag(r, 1)) == pytest.approx(np.exp(-0.5), abs=0.03)
    assert noise.std() == pytest.approx(2.0, rel=0.03)
    pink = driven_wave(u, **{**kw, "noise_color": "pink"}).data[:-1] - clean
    p = np.abs(np.fft.rfft(pink, axis=1)) ** 2
    f = np.fft.rfftfreq(N_TIMES, 1 / FS)
    # power 1/f: mean over 1-10 Hz / mean over 250-500 Hz = (ln 10 / 9) / (ln 2 / 250) = 92
    # (white noise: 1); the estimate from 8 sites x 36 bins at 1-10 Hz scatters by ~15%
    ratio = p[:, (f >= 1) & (f < 10)].mean() / p[:, f >= 250].mean()
    assert ratio == pytest.approx(np.log(10) / 9 / (np.log(2) / 250), rel=0.3)


def test_measure_velocity_xcorr_in_a_wide_band_searches_long_enough_lags():
    """A band of an octave or more must not cap the lag search at half a period of its top
    edge (2 samples for 5-200 Hz, which read 0.2 m/s as about 1.4 m/s): only lags past half
    a period of its lowest frequency alias. Same 3% tolerance as the unfiltered xcorr above."""
    from wavescope.waves import measure_velocity

    u = driven_input(3000, seed=2)
    f = driven_wave(
        u, speed=200.0, fs=FS, grid=(8, 8), pitch=0.4, direction=np.pi / 2, noise_sd=0.5, seed=3
    )
    s = measure_velocity(f, (5.0, 200.0), method="xcorr", n_surrogates=0, patterns=False)
    assert s.summary()["speed"]["median"] == pytest.approx(200.0, rel=0.03)
