"""Calibrate the defaults on a lab's own recording (``wavescope calibrate FILE``).

How far can the speed printed for *this* recording be trusted? The recording sets
everything that decides it: the layout and its extent, the sampling rate and duration,
the band, and the background (its aperiodic exponent, its spatial correlation, how far
the oscillation stands above it). :func:`calibrate_recording` measures those from the
recording, simulates plane waves of known speed and direction on the recording's own
layout in a background with the same statistics, runs the same defaults on each, and
reports the bias, spread and detection power expected for this recording, per speed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from wavescope.core.circular import wrap
from wavescope.core.field import WaveField
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError, check_positive
from wavescope.datasets.backgrounds import mix_at_snr, pink_background
from wavescope.pipelines.recording import (
    ReadOptions,
    VelocityOptions,
    measure_recording,
    read_input,
)
from wavescope.signal.spectral import bandpass
from wavescope.space.correlation import correlation_length
from wavescope.waves.inputs import site_spectrum, spectrum_model

__all__ = ["Background", "CalibrationResult", "SpeedCalibration", "calibrate_recording"]

#: Longest stretch of the recording simulated, seconds (or steps): the cost of each
#: simulated record grows with its length; 60 s hold hundreds of cycles of an 8-14 Hz wave.
MAX_SIM_DURATION = 60.0
#: Wavelengths simulated by default, in array extents (the range the validation bank spans).
DEFAULT_WAVELENGTHS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass
class Background(Result):
    """The recording's background as the simulations reproduce it.

    Attributes
    ----------
    exponent : float
        Aperiodic exponent of the site-averaged spectrum (1/f^exponent).
    length : float
        Spatial correlation length at zero lag, ``space_unit``.
    white_fraction : float
        Share of each site's variance that no other site shares.
    frequency : float
        The oscillation simulated, cycles per time unit: the largest peak above the
        aperiodic fit, else the centre of the band the defaults chose.
    snr_db : float
        In-band SNR of that oscillation, dB: the site-averaged power above the aperiodic
        fit over the band's width around it, against the fit's power there; None where no
        peak stands out.
    band : list of float
        The band the defaults used on the recording.
    """

    exponent: float
    length: float
    white_fraction: float
    frequency: float
    snr_db: float | None
    band: list


@dataclass
class SpeedCalibration(Result):
    """The defaults on simulated waves of one true speed.

    ``median_error`` and ``error_iqr`` are relative (printed / true - 1) over the records
    with a speed; ``printed`` (detection power) and ``within_15`` count over all records.
    """

    speed: float
    wavelength_extents: float
    n: int
    printed: float
    median_error: float | None
    error_iqr: list | None
    within_15: float
    median_direction_error_deg: float | None


@dataclass
class CalibrationResult(Result):
    """What :func:`calibrate_recording` found (every number also in ``to_json()``)."""

    input: str | None
    speed_unit: str
    space_unit: str
    frequency_unit: str
    recording_speed: float | None
    extent: float
    background: Background
    speeds: list[SpeedCalibration]
    records: list[dict] = field(default_factory=list)
    snr_db_used: float = 0.0


def _background(fld: WaveField, summary: dict) -> Background:
    band = [float(b) for b in summary["band"]]
    f, p = site_spectrum(fld)
    model = spectrum_model(fld)
    peak = None if model is None else model.peak
    freq = peak.frequency if peak is not None else float(np.mean(band))
    snr = None
    if model is not None:
        # power above the aperiodic fit over the band, as mix_at_snr measures it
        half = (band[1] - band[0]) / 2
        sel = (f >= freq - half) & (f <= freq + half)
        total, aperiodic = p[sel].sum(), (10 ** model.aperiodic(f[sel])).sum()
        if peak is not None and total > aperiodic > 0:
            snr = float(10 * np.log10((total - aperiodic) / aperiodic))
    # the background's spatial structure outside the band: a wave is correlated in space
    # too, and would read as a long correlation length
    data = np.asarray(fld.data[fld.good], np.float64)
    data = data - bandpass(data, fld.fs, (band[0], min(band[1], 0.49 * fld.fs)))
    length, white = correlation_length(data, fld.positions[fld.good])
    exponent = float(model.exponent) if model is not None else 1.0
    return Background(exponent, length, white, float(freq), snr, band)


def _simulate(fld: WaveField, bg: Background, speed, direction, snr_db, duration, seed):
    pos = fld.positions[fld.good]
    t = np.arange(int(round(duration * fld.fs))) / fld.fs
    unit = np.array([np.cos(direction), np.sin(direction), 0.0])[: pos.shape[1]]
    if pos.shape[1] == 1:
        unit = np.array([1.0 if np.cos(direction) >= 0 else -1.0])
    k = 2 * np.pi * bg.frequency / speed * unit
    clean = np.cos(2 * np.pi * bg.frequency * t[None, :] - (pos @ k)[:, None])
    sig = WaveField(clean.astype(np.float32), fld.fs, pos, fld.space_unit, fld.time_unit)
    back = pink_background(
        pos, fs=fld.fs, duration=duration, exponent=bg.exponent,
        smooth_length=bg.length, white_fraction=bg.white_fraction, seed=seed,
        space_unit=fld.space_unit, time_unit=fld.time_unit,
    )  # fmt: skip
    half = max(bg.band[1] - bg.band[0], 1e-12) / 2
    return mix_at_snr(sig, back, snr_db, (bg.frequency - half, bg.frequency + half))


def calibrate_recording(
    source,
    velocity: VelocityOptions | None = None,
    read: ReadOptions | None = None,
    *,
    wavelengths=DEFAULT_WAVELENGTHS,
    n_per_speed: int = 5,
    snr_db: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationResult:
    """Expected bias, spread and detection power of the defaults on one recording.

    Parameters
    ----------
    source : path-like or WaveField
        The recording (anything :func:`~wavescope.pipelines.recording.read_input` reads).
    velocity, read : options, optional
        The options to calibrate (default: the defaults, as ``wavescope velocity FILE``).
    wavelengths : sequence of float
        True wavelengths simulated, in array extents (speed = wavelength x frequency).
    n_per_speed : int
        Simulated records per speed (directions drawn uniformly).
    snr_db : float, optional
        In-band SNR of the simulated waves, dB (default: the recording's own, from its
        peak above the aperiodic fit; 3 dB where it has none).
    seed : int
    progress : callable, optional
        ``progress(done, total)`` after each simulated record.

    Returns
    -------
    CalibrationResult
        Per speed: fraction with a speed printed, median and IQR of the relative error,
        share within 15%, median direction error.
    """
    vel = velocity or VelocityOptions()
    fld = read_input(source, read)
    if fld.n_dims > 2:
        raise WaveInputError(
            "calibration simulates plane waves on 1-D or 2-D layouts; project 3-D positions "
            "onto the cortical surface first (CLI: --projection plane)."
        )
    n_per_speed = int(check_positive("n_per_speed", n_per_speed))
    measured = measure_recording(fld, vel).summary.to_json()
    bg = _background(fld, measured)
    snr = snr_db if snr_db is not None else (bg.snr_db if bg.snr_db is not None else 3.0)
    duration = min(fld.duration, MAX_SIM_DURATION)
    extent = float(fld.extent)
    rng = np.random.default_rng(seed)
    jobs = [(wl, i) for wl in wavelengths for i in range(n_per_speed)]
    records = []
    for done, (wl, _) in enumerate(jobs, 1):
        speed = float(wl) * extent * bg.frequency
        direction = float(rng.uniform(-np.pi, np.pi))
        sim = _simulate(fld, bg, speed, direction, snr, duration, int(rng.integers(2**31)))
        s = measure_recording(sim, replace(vel)).summary.to_json()
        got = (s.get("speed") or {}).get("median")
        d = (s.get("direction") or {}).get("mean_rad")
        records.append(
            {
                "wavelength_extents": float(wl),
                "speed": speed,
                "direction": direction,
                "printed": got,
                "error": None if got is None else got / speed - 1,
                "direction_error": None if got is None or d is None else float(wrap(d - direction)),
                "method": (s.get("method_choice") or {}).get("reported"),
                "wave_fraction": s.get("wave_fraction"),
            }
        )
        if progress is not None:
            progress(done, len(jobs))
    speeds = [_per_speed(wl, extent * bg.frequency, records) for wl in wavelengths]
    rec_speed = (measured.get("speed") or {}).get("median")
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    freq_unit = "Hz" if fld.time_unit == "s" else f"1/{fld.time_unit}"
    return CalibrationResult(
        name,
        fld.speed_unit,
        fld.space_unit,
        freq_unit,
        rec_speed,
        extent,
        bg,
        speeds,
        records,
        float(snr),
    )


def _per_speed(wl: float, scale: float, records: list[dict]) -> SpeedCalibration:
    rs = [r for r in records if r["wavelength_extents"] == float(wl)]
    errs = np.array([r["error"] for r in rs if r["error"] is not None], float)
    dirs = np.array([abs(r["direction_error"]) for r in rs if r["direction_error"] is not None])
    n = len(rs)
    return SpeedCalibration(
        float(wl) * scale, float(wl), n,
        float(np.mean([r["printed"] is not None for r in rs])) if n else 0.0,
        float(np.median(errs)) if errs.size else None,
        [float(q) for q in np.quantile(errs, [0.25, 0.75])] if errs.size else None,
        float(np.sum(np.abs(errs) <= 0.15) / n) if n else 0.0,
        float(np.degrees(np.median(dirs))) if dirs.size else None,
    )  # fmt: skip
