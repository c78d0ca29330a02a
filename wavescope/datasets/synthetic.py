"""Synthetic fields with known ground truth.

Every generator returns a :class:`~wavescope.WaveField` whose ``meta["truth"]`` holds the
parameters it was built with (speed in space_unit/time_unit, direction in radians
counter-clockwise from +x, frequency in cycles per time_unit, wavelength in space_unit,
pattern name). The tests of every wave measure are built on these.

Conventions: a planar wave is ``A cos(2 pi f t - k . x + phi0)`` with
``k = (2 pi f / speed) (cos theta, sin theta)``; it travels in direction ``theta``.
Noise is white and Gaussian, set either by ``snr_db`` (ratio of the mean signal power over
sites and samples to the noise power, in dB) or by ``noise_sd`` (in data units).
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, as_float_array, check_positive

__all__ = [
    "planar_wave",
    "radial_wave",
    "rotating_wave",
    "synchronous_field",
    "standing_wave",
    "noise_field",
    "line_pulses",
    "add_noise",
]


def _times(fs: float, duration: float) -> np.ndarray:
    fs, duration = check_positive("fs", fs), check_positive("duration", duration)
    n = int(round(fs * duration))
    if n < 2:
        raise WaveInputError(f"duration {duration:g} at fs {fs:g} gives fewer than 2 samples.")
    return np.arange(n) / fs


def _positions(positions) -> np.ndarray:
    pos = as_float_array("positions", positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[:, None]
    if pos.ndim != 2 or not 1 <= pos.shape[1] <= 3:
        raise WaveInputError(f"positions must be (n_sites, 1|2|3), got {pos.shape}.")
    return pos


def _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype):
    field = WaveField(clean.astype(dtype), fs, pos, space_unit, time_unit, meta={"truth": truth})
    if snr_db is None and noise_sd is None:
        return field
    return add_noise(field, snr_db=snr_db, noise_sd=noise_sd, seed=seed)


def add_noise(
    field: WaveField, snr_db: float | None = None, *, noise_sd: float | None = None, seed=None
) -> WaveField:
    """Add white Gaussian noise at a given SNR (dB) or standard deviation (data units).

    The SNR is ``10 log10(P_signal / P_noise)`` with ``P_signal`` the mean of the squared
    samples over all sites and times.
    """
    if (snr_db is None) == (noise_sd is None):
        raise WaveInputError("give exactly one of snr_db or noise_sd.")
    rng = np.random.default_rng(seed)
    if noise_sd is None:
        p_sig = float(np.mean(np.square(field.data, dtype=np.float64)))
        noise_sd = np.sqrt(p_sig / 10 ** (snr_db / 10))
    noise = rng.standard_normal(field.data.shape, dtype=np.float32) * np.float32(noise_sd)
    meta = dict(field.meta)
    truth = dict(meta.get("truth", {}))
    truth.update(noise_sd=float(noise_sd), snr_db=None if snr_db is None else float(snr_db))
    meta["truth"] = truth
    data = (field.data + noise).astype(field.data.dtype, copy=False)
    from dataclasses import replace

    return replace(field, data=data, meta=meta)


def planar_wave(
    positions,
    *,
    fs: float,
    duration: float,
    frequency: float,
    speed: float,
    direction: float = 0.0,
    amplitude: float = 1.0,
    phase0: float = 0.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """A plane wave ``A cos(2 pi f t - k . x + phase0)`` travelling in ``direction``.

    Parameters
    ----------
    positions : ndarray, shape (n_sites, d)
        Site positions in ``space_unit`` (d = 1: direction 0 travels to +x, pi to -x).
    fs : float
        Sampling rate, samples per ``time_unit``.
    duration : float
        Length in ``time_unit``.
    frequency : float
        Temporal frequency, cycles per ``time_unit``.
    speed : float
        Phase speed in ``space_unit / time_unit``.
    direction : float
        Direction of propagation in radians, counter-clockwise from +x.
    """
    pos = _positions(positions)
    t = _times(fs, duration)
    speed = check_positive("speed", speed)
    kmag = 2 * np.pi * frequency / speed
    unit = np.array([np.cos(direction), np.sin(direction), 0.0])[: pos.shape[1]]
    if pos.shape[1] == 1:
        unit = np.array([np.sign(np.cos(direction)) or 1.0])
    proj = pos @ unit
    clean = amplitude * np.cos(2 * np.pi * frequency * t[None, :] - kmag * proj[:, None] + phase0)
    truth = dict(
        pattern="planar",
        speed=speed,
        direction=float(np.angle(np.exp(1j * direction))),
        frequency=frequency,
        wavelength=speed / frequency,
        amplitude=amplitude,
    )
    return _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype)


def radial_wave(
    positions,
    *,
    fs: float,
    duration: float,
    frequency: float,
    speed: float,
    center=None,
    outward: bool = True,
    amplitude: float = 1.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """A radial wave from a source (``outward=True``) or into a sink, centred at ``center``.

    ``A cos(2 pi f t -/+ |k| |x - center|)``; ``center`` defaults to the layout's centroid.
    """
    pos = _positions(positions)
    t = _times(fs, duration)
    c = pos.mean(axis=0) if center is None else np.asarray(center, float)
    r = np.linalg.norm(pos - c, axis=1)
    kmag = 2 * np.pi * frequency / check_positive("speed", speed)
    sign = 1.0 if outward else -1.0
    clean = amplitude * np.cos(2 * np.pi * frequency * t[None, :] - sign * kmag * r[:, None])
    truth = dict(
        pattern="radial",
        speed=speed,
        frequency=frequency,
        wavelength=speed / frequency,
        center=c.tolist(),
        outward=outward,
    )
    return _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype)


def rotating_wave(
    positions,
    *,
    fs: float,
    duration: float,
    frequency: float,
    center=None,
    counterclockwise: bool = True,
    arms: int = 1,
    amplitude: float = 1.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """A rotating (spiral-free, pinwheel) wave: phase ``2 pi f t -/+ arms * angle(x - center)``."""
    pos = _positions(positions)
    if pos.shape[1] < 2:
        raise WaveInputError("a rotating wave needs 2-D positions.")
    t = _times(fs, duration)
    c = pos.mean(axis=0) if center is None else np.asarray(center, float)
    ang = np.arctan2(pos[:, 1] - c[1], pos[:, 0] - c[0])
    sign = 1.0 if counterclockwise else -1.0
    clean = amplitude * np.cos(2 * np.pi * frequency * t[None, :] - sign * arms * ang[:, None])
    truth = dict(
        pattern="rotating",
        frequency=frequency,
        center=c.tolist(),
        counterclockwise=counterclockwise,
    )
    return _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype)


def synchronous_field(
    positions,
    *,
    fs: float,
    duration: float,
    frequency: float,
    amplitude: float = 1.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """All sites oscillate in phase (zero spatial phase gradient): no travelling wave."""
    pos = _positions(positions)
    t = _times(fs, duration)
    clean = amplitude * np.cos(2 * np.pi * frequency * t)[None, :] * np.ones((len(pos), 1))
    truth = dict(pattern="synchronous", frequency=frequency)
    return _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype)


def standing_wave(
    positions,
    *,
    fs: float,
    duration: float,
    frequency: float,
    wavelength: float,
    direction: float = 0.0,
    amplitude: float = 1.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """A standing wave ``A cos(k . x) cos(2 pi f t)``: two opposite waves, no net travel."""
    pos = _positions(positions)
    t = _times(fs, duration)
    unit = np.array([np.cos(direction), np.sin(direction), 0.0])[: pos.shape[1]]
    k = 2 * np.pi / check_positive("wavelength", wavelength)
    clean = amplitude * np.cos(k * (pos @ unit))[:, None] * np.cos(2 * np.pi * frequency * t)[None]
    truth = dict(pattern="standing", frequency=frequency, wavelength=wavelength)
    return _finish(clean, fs, pos, truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype)


def noise_field(
    positions,
    *,
    fs: float,
    duration: float,
    sd: float = 1.0,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """Independent white Gaussian noise at every site: the null case (no wave)."""
    pos = _positions(positions)
    t = _times(fs, duration)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(pos), len(t)), dtype=np.float32) * np.float32(sd)
    truth = dict(pattern="noise", noise_sd=sd)
    return WaveField(data.astype(dtype), fs, pos, space_unit, time_unit, meta={"truth": truth})


def smooth_noise(
    positions,
    *,
    fs: float,
    duration: float,
    band: tuple[float, float],
    length_scale: float,
    sd: float = 1.0,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """Spatially smooth, band-limited Gaussian noise that does not propagate.

    Each frequency bin in ``band`` gets complex Gaussian coefficients with the spatial
    covariance ``exp(-d^2 / (2 length_scale^2))`` between sites at distance ``d``: a
    real covariance, so the field is correlated at zero lag and carries no delay between
    sites (no travelling wave), while its instantaneous phase maps are smooth. The null
    case that phase-randomised surrogates miss (they destroy the spatial correlation).

    Parameters
    ----------
    positions : ndarray, shape (n_sites, d)
    fs : float
        Samples per ``time_unit``.
    duration : float
        ``time_unit``.
    band : (float, float)
        Pass band, cycles per ``time_unit``.
    length_scale : float
        Correlation length, ``space_unit``.
    sd : float
        Standard deviation of each site's samples.
    """
    pos = _positions(positions)
    t = _times(fs, duration)
    lo, hi = (float(b) for b in band)
    if not 0 <= lo < hi < fs / 2:
        raise WaveInputError(f"band=({lo:g}, {hi:g}) must satisfy 0 <= lo < hi < fs/2.")
    ell = check_positive("length_scale", length_scale)
    rng = np.random.default_rng(seed)
    n = len(t)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    sel = np.flatnonzero((f >= lo) & (f <= hi))
    if sel.size == 0:
        raise WaveInputError(f"band=({lo:g}, {hi:g}) holds no frequency bin of {n} samples.")
    d2 = np.sum((pos[:, None, :] - pos[None, :, :]) ** 2, axis=-1)
    cov = np.exp(-d2 / (2 * ell**2))
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0, None))
    z = rng.standard_normal((len(pos), sel.size)) + 1j * rng.standard_normal((len(pos), sel.size))
    spec = np.zeros((len(pos), f.size), complex)
    spec[:, sel] = root @ z
    data = np.fft.irfft(spec, n, axis=1)
    data *= sd / max(float(np.std(data)), np.finfo(float).tiny)
    truth = dict(pattern="smooth-noise", band=[lo, hi], length_scale=ell, sd=sd)
    return WaveField(data.astype(dtype), fs, pos, space_unit, time_unit, meta={"truth": truth})


def line_pulses(
    n_sites: int = 64,
    *,
    speed: float,
    n_steps: int | None = None,
    n_pulses: int = 1,
    width: float | None = None,
    spacing: float = 1.0,
    direction: float = 0.0,
    interval: float | None = None,
    amplitude: float = 1.0,
    snr_db: float | None = None,
    noise_sd: float | None = None,
    seed=None,
    fs: float = 1.0,
    space_unit: str = "site",
    time_unit: str = "step",
    dtype=np.float32,
) -> WaveField:
    """Gaussian pulses travelling along a line of sites at ``speed``.

    Site ``i`` (at ``x_i = i * spacing``) sees pulse ``j`` peak at
    ``t_j + x_i / speed`` (or ``t_j + (x_max - x_i) / speed`` when ``direction`` is pi),
    with a Gaussian time course of standard deviation ``width`` (in ``time_unit``;
    default ``max(2, 2 / speed)`` samples so that the pulse is smooth in both time and
    space).

    Parameters
    ----------
    speed : float
        Pulse speed in ``space_unit / time_unit`` (sites/step by default).
    n_steps : int, optional
        Number of samples; by default long enough for every pulse to cross the line.
    interval : float, optional
        Time between pulse onsets (``time_unit``); default: one crossing time plus 8 widths.
    """
    speed = check_positive("speed", speed)
    dt = 1.0 / check_positive("fs", fs)
    width = max(2.0, 2.0 / (speed * dt / spacing)) * dt if width is None else float(width)
    x = np.arange(n_sites) * spacing
    cross = x[-1] / speed
    interval = cross + 8 * width if interval is None else float(interval)
    start = 4 * width
    if n_steps is None:
        n_steps = int(np.ceil((start + (n_pulses - 1) * interval + cross + 4 * width) / dt))
    t = np.arange(n_steps) * dt
    forward = np.cos(direction) >= 0
    delay = (x if forward else x[-1] - x) / speed
    clean = np.zeros((n_sites, n_steps))
    for j in range(n_pulses):
        peak = start + j * interval + delay
        clean += amplitude * np.exp(-0.5 * ((t[None, :] - peak[:, None]) / width) ** 2)
    truth = dict(
        pattern="pulse",
        speed=speed,
        direction=0.0 if forward else float(np.pi),
        width=width,
        onsets=(start + np.arange(n_pulses) * interval).tolist(),
    )
    return _finish(
        clean, fs, x[:, None], truth, snr_db, noise_sd, seed, space_unit, time_unit, dtype
    )
