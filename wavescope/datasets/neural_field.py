"""A small neural-field simulation with intermittent travelling waves of known speed.

:func:`neural_field` simulates a sheet of cortex in which activity spreads from local
sources along horizontal fibres at a conduction speed ``c`` (Nunez 1974; Davis et al.
2020 model the waves of marmoset MT this way). The field is linear and has pure
conduction delays, so its Green's function is a delayed, distance-attenuated copy of the
source activity:

.. math::

    u(x, t) = \\sum_e \\frac{a_e}{1 + |x - x_e| / r_0}
              \\, s_e\\!\\left(t - t_e - \\frac{|x - x_e|}{c}\\right) + \\eta(x, t)

Each source ``e`` is a burst of a noise-driven damped oscillator, written in closed form as
a Gaussian-windowed oscillation ``s_e(tau) = exp(-tau^2 / (2 sigma_e^2)) cos(2 pi f_e tau +
phi_e)`` at a random frequency ``f_e`` in ``band`` and duration ``sigma_e``, launched at a
random time ``t_e`` from a random point ``x_e`` of a sheet larger than the array: sources
far from the array give near-planar waves, sources on it radial ones, in every direction;
overlapping bursts interfere; between bursts there are only background fluctuations
``eta``, independent 1/f ("pink") noise per site. Because every frequency travels at
``c`` (no dispersion), the phase speed of every wave is exactly ``c``: the known truth.

References
----------
Nunez PL (1974) The brain wave equation: a model for the EEG. Math Biosci 21:279-297.
Davis ZW, Muller L, Martinez-Trujillo J, Sejnowski T, Reynolds JH (2020) Spontaneous
travelling cortical waves gate perception in behaving primates. Nature 587:432-436.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, as_float_array, check_positive
from wavescope.datasets.layouts import grid_positions

__all__ = ["neural_field"]


def _pink_noise(rng, n_sites: int, n_times: int) -> np.ndarray:
    """Independent 1/f noise per site, unit standard deviation. Returns (n_sites, n_times)."""
    spec = np.fft.rfft(rng.standard_normal((n_sites, n_times)), axis=1)
    f = np.arange(spec.shape[1], dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)[None, :]
    spec[:, 0] = 0.0
    x = np.fft.irfft(spec, n=n_times, axis=1)
    return x / x.std(axis=1, keepdims=True)


def neural_field(
    positions=None,
    *,
    speed: float = 0.3,
    fs: float = 500.0,
    duration: float = 20.0,
    band: tuple[float, float] = (7.0, 13.0),
    event_rate: float = 1.0,
    burst_sd: tuple[float, float] = (0.08, 0.2),
    source_radius: float = 15e-3,
    attenuation_length: float = 10e-3,
    noise_sd: float = 0.1,
    seed=None,
    dtype=np.float32,
) -> WaveField:
    """Simulate a cortical sheet with intermittent travelling waves at conduction speed ``c``.

    Parameters
    ----------
    positions : ndarray, shape (n_sites, 2), optional
        Site positions in metres (any layout). Default: a 10 x 10 grid of 1 mm pitch
        (a micro-ECoG grid, 9 mm across), 100 sites.
    speed : float
        Conduction speed ``c`` in m/s: the phase speed of every wave (the ground truth).
    fs : float
        Sampling rate, Hz.
    duration : float
        Length in s.
    band : (lo, hi)
        Source frequencies ``f_e`` are uniform in this band, Hz.
    event_rate : float
        Mean number of wave events (sources) per second (a Poisson process).
    burst_sd : (lo, hi)
        Range of the burst envelopes' standard deviations ``sigma_e``, s (uniform): a burst
        lasts about ``4 sigma_e``.
    source_radius : float
        Sources are uniform on a disc of this radius (m) around the array's centre.
    attenuation_length : float
        ``r_0`` of the amplitude fall-off ``1 / (1 + r / r_0)``, m.
    noise_sd : float
        Standard deviation of the pink background noise, in units of a burst's peak
        amplitude at its source.
    seed : int, optional
        Seed of every random choice: the same seed gives the same field.
    dtype : numpy dtype
        dtype of ``data``.

    Returns
    -------
    field : WaveField
        ``data`` (n_sites, n_times) in arbitrary units, ``positions`` in m, ``fs`` in Hz.
        ``meta["truth"]``: ``speed`` (m/s), ``pattern`` ("neural-field"), ``band``,
        ``noise_sd``, ``events`` (one dict per burst: ``time`` s, ``x``, ``y`` m,
        ``frequency`` Hz, ``sd`` s, ``amplitude``, ``distance`` m from the array centre)
        and ``envelope``: (n_times,) the summed burst envelopes at the array centre
        (where waves are), in units of ``noise_sd``.

    Notes
    -----
    The data are float32; 100 sites x 20 s x 500 Hz take well under a second.

    Examples
    --------
    >>> from wavescope.datasets import neural_field
    >>> field = neural_field(speed=0.3, duration=10, seed=0)
    >>> field.data.shape, field.meta["truth"]["speed"]
    ((100, 5000), 0.3)
    """
    speed = check_positive("speed", speed)
    fs = check_positive("fs", fs)
    duration = check_positive("duration", duration)
    check_positive("event_rate", event_rate)
    check_positive("source_radius", source_radius)
    check_positive("attenuation_length", attenuation_length)
    if noise_sd < 0:
        raise WaveInputError(f"noise_sd must be >= 0, got {noise_sd}.")
    lo, hi = (float(b) for b in band)
    if not 0 < lo <= hi < fs / 2:
        raise WaveInputError(f"band must satisfy 0 < lo <= hi < fs/2 = {fs / 2:g}, got {band}.")
    sd_lo, sd_hi = (float(b) for b in burst_sd)
    if not 0 < sd_lo <= sd_hi:
        raise WaveInputError(f"burst_sd must satisfy 0 < lo <= hi, got {burst_sd}.")
    pos = grid_positions(10, 10, 1e-3) if positions is None else positions
    pos = as_float_array("positions", pos, ndim=2, dtype=np.float64)
    if pos.shape[1] != 2:
        raise WaveInputError(f"positions must be (n_sites, 2) in metres, got {pos.shape}.")
    n_times = int(round(fs * duration))
    if n_times < 2:
        raise WaveInputError(f"duration {duration:g} s at {fs:g} Hz gives fewer than 2 samples.")

    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / fs
    centre = pos.mean(0)
    n_events = int(rng.poisson(event_rate * duration))
    # event parameters, drawn in one go so that the stream does not depend on the layout
    times = rng.uniform(0.0, duration, n_events)
    radius = source_radius * np.sqrt(rng.uniform(0.0, 1.0, n_events))  # uniform on the disc
    angle = rng.uniform(-np.pi, np.pi, n_events)
    freqs = rng.uniform(lo, hi, n_events)
    sds = rng.uniform(sd_lo, sd_hi, n_events)
    phases = rng.uniform(-np.pi, np.pi, n_events)
    amps = rng.uniform(0.5, 1.0, n_events)
    src = centre + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)

    data = np.zeros((pos.shape[0], n_times))
    envelope = np.zeros(n_times)
    for e in range(n_events):
        r = np.hypot(*(pos - src[e]).T)  # (n_sites,) m
        gain = amps[e] / (1.0 + r / attenuation_length)
        t_e = times[e]
        # only the samples within 5 sd of the burst at any site
        r_max = r.max()
        i0 = max(int((t_e + r.min() / speed - 5 * sds[e]) * fs), 0)
        i1 = min(int((t_e + r_max / speed + 5 * sds[e]) * fs) + 2, n_times)
        if i1 <= i0:
            continue
        tau = t[None, i0:i1] - t_e - r[:, None] / speed  # (n_sites, n_seg) s
        burst = np.exp(-0.5 * (tau / sds[e]) ** 2)
        data[:, i0:i1] += gain[:, None] * burst * np.cos(2 * np.pi * freqs[e] * tau + phases[e])
        rc = radius[e]
        tau_c = t - t_e - rc / speed
        envelope += amps[e] / (1.0 + rc / attenuation_length) * np.exp(-0.5 * (tau_c / sds[e]) ** 2)
    if noise_sd > 0:
        data += noise_sd * _pink_noise(rng, pos.shape[0], n_times)
    events = [
        {
            "time": float(times[e]),
            "x": float(src[e, 0]),
            "y": float(src[e, 1]),
            "distance": float(radius[e]),
            "frequency": float(freqs[e]),
            "sd": float(sds[e]),
            "amplitude": float(amps[e]),
        }
        for e in np.argsort(times)
    ]
    truth = {
        "pattern": "neural-field",
        "speed": float(speed),
        "band": [lo, hi],
        "noise_sd": float(noise_sd),
        "n_events": n_events,
        "events": events,
        "envelope": envelope / max(noise_sd, 1e-12),
    }
    return WaveField.from_array(
        data.astype(dtype),
        fs,
        pos,
        space_unit="m",
        time_unit="s",
        meta={"source": "neural_field", "truth": truth},
    )
