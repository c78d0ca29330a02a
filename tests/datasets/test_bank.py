"""The validation bank's generators give what they claim: the stated in-band SNR, a 1/f
background with its exponent and zero-lag spatial correlation, waves with the truth they
record, and no-wave classes without delays between sites."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from wavescope.core.validate import WaveInputError
from wavescope.datasets.backgrounds import in_band_power, mix_at_snr, pink_background
from wavescope.datasets.bank import NO_WAVE_KINDS, BankCell, bank_cells, bank_field
from wavescope.datasets.layouts import grid_positions
from wavescope.datasets.synthetic import planar_wave

POS = grid_positions(6, 6, 0.4e-3)


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_pink_background_has_its_exponent_and_zero_lag_correlation(exponent):
    bg = pink_background(POS, fs=500, duration=20, exponent=exponent, smooth_length=1e-3, seed=1)
    f, p = welch(bg.data.astype(float), 500, nperseg=1000)
    sel = (f >= 2) & (f <= 100)
    slope = np.polyfit(np.log10(f[sel]), np.log10(p.mean(0)[sel]), 1)[0]
    assert abs(-slope - exponent) < 0.1  # the fitted exponent of a 20 s Welch spectrum
    # neighbours 0.4 mm apart correlate (1 mm length: exp(-0.08) = 0.92) with no lag
    x = np.fft.rfft(bg.data[[0, 1]].astype(float), axis=1)
    cross = np.sum(x[0] * np.conj(x[1]))
    assert np.abs(cross) / np.sqrt(np.sum(np.abs(x[0]) ** 2) * np.sum(np.abs(x[1]) ** 2)) > 0.85
    assert abs(np.angle(cross)) < 0.05  # radians: no delay between the sites


@pytest.mark.parametrize("snr_db", [-3.0, 10.0])
def test_mix_at_snr_sets_the_in_band_snr(snr_db):
    sig = planar_wave(POS, fs=500, duration=10, frequency=10, speed=0.3)
    bg = pink_background(POS, fs=500, duration=10, exponent=1.5, smooth_length=1e-3, seed=2)
    mixed = mix_at_snr(sig, bg, snr_db, (8, 12))
    noise = mixed.data.astype(float) - sig.data
    measured = 10 * np.log10(
        in_band_power(sig.data, 500, (8, 12)) / in_band_power(noise, 500, (8, 12))
    )
    assert measured == pytest.approx(snr_db, abs=0.05)  # float32 rounding of the mix
    assert mixed.meta["truth"]["speed"] == 0.3 and mixed.meta["truth"]["snr_db"] == snr_db
    with pytest.raises(WaveInputError, match="differ in shape"):
        mix_at_snr(sig, pink_background(POS[:4], fs=500, duration=10, seed=0), 0.0, (8, 12))


def test_bank_waves_carry_the_delays_of_their_truth():
    cell = BankCell("wave", snr_db=20.0, wavelength=2.0)
    f = bank_field(cell, 3)
    t = f.meta["truth"]
    assert t["wave"] and t["cell"]["name"] == cell.name
    # phase of each site at f0, by projection: a plane with the true wavevector
    n = f.n_times
    ref = np.exp(-2j * np.pi * t["frequency"] * np.arange(n) / f.fs)
    ph = np.angle(f.data.astype(float) @ ref)
    k = (
        2
        * np.pi
        * t["frequency"]
        / t["speed"]
        * np.array([np.cos(t["direction"]), np.sin(t["direction"])])
    )
    resid = np.angle(np.exp(1j * (ph + f.positions @ k)))
    assert np.std(np.angle(np.exp(1j * (resid - np.angle(np.exp(1j * resid).mean()))))) < 0.1


@pytest.mark.parametrize("kind", [k for k in NO_WAVE_KINDS if k not in ("white", "pink")])
def test_no_wave_classes_have_no_delay_between_sites(kind):
    f = bank_field(BankCell(kind, background="white", snr_db=30.0, duration=10.0), 0)
    assert not f.meta["truth"]["wave"]
    n = f.n_times
    ref = np.exp(-2j * np.pi * f.meta["truth"]["frequency"] * np.arange(n) / f.fs)
    z = f.data.astype(float) @ ref
    strong = np.abs(z) > 0.2 * np.abs(z).max()
    # every site's phase is 0 or pi from the others' (standing: sign changes), never between
    d = np.angle(z[strong] * np.conj(z[strong][0]))
    assert np.all(np.minimum(np.abs(d), np.pi - np.abs(d)) < 0.15)


def test_the_cell_lists():
    fast, full = bank_cells("fast"), bank_cells("full")
    assert {c.kind for c in full} >= {"wave", "bursts", *NO_WAVE_KINDS}
    assert len(full) == 2 * 2 * 4 * 4 + 2 + 2 * len(NO_WAVE_KINDS)
    assert all(c in full or c.kind in ("white", "pink", "wave") for c in fast)
    with pytest.raises(WaveInputError):
        BankCell("tsunami")
