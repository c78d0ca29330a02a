"""How precisely a plane wave's speed and direction can be measured at all.

The Cramer-Rao bound for a plane wave ``A cos(w t - k . x + phi0)`` in white noise of
standard deviation ``sigma`` (per site and sample), with the wave vector estimated from
``n`` samples: the Fisher information for ``k`` is ``(A^2 / sigma^2) (n / 2) S`` with
``S = sum_i (x_i - xbar)(x_i - xbar)^T``. The component of ``k`` across the direction of
travel sets the direction error, the component along it the speed error:

    sd(direction) = sd(k_perp) / |k|,    sd(speed) / speed = sd(k_par) / |k|.

Per sample (one phase map), ``n`` is replaced by the number of independent samples in
one sample's worth of band: the phase noise per site is ``sigma_phi^2 = sigma^2 * 2 B /
(fs A^2)`` with ``B`` the noise bandwidth of the band-pass, and
``sd(k) = sigma_phi / sqrt(S)``. No unbiased estimator does better; use these numbers as
the floor next to measured errors.
"""

from __future__ import annotations

import numpy as np

from wavescope.signal.spectral import band_weights, default_transition

__all__ = ["noise_bandwidth", "plane_wave_precision"]


def noise_bandwidth(band: tuple[float, float], fs: float) -> float:
    """Equivalent noise bandwidth (cycles per time unit) of wavescope's band-pass gain.

    ``B = integral of gain(f)^2 df`` over positive frequencies.
    """
    f = np.linspace(0, fs / 2, 200001)
    g = band_weights(f, band, default_transition(band, fs))
    return float(np.sum(g**2) * (f[1] - f[0]))


def plane_wave_precision(
    positions,
    *,
    frequency: float,
    speed: float,
    direction: float,
    amplitude: float,
    noise_sd: float,
    fs: float,
    duration: float | None = None,
    band: tuple[float, float] | None = None,
) -> dict:
    """Cramer-Rao standard deviations of direction (degrees) and relative speed.

    Parameters
    ----------
    positions : ndarray, shape (n_sites, 2)
        Site positions (length unit L).
    frequency : float
        Wave frequency, cycles per time unit.
    speed : float
        L per time unit.
    direction : float
        Radians.
    amplitude, noise_sd : float
        Wave amplitude and white-noise standard deviation (same unit).
    fs : float
        Samples per time unit.
    duration : float, optional
        Record length (time unit) for the recording-level bound.
    band : (lo, hi), optional
        Band-pass for the per-sample bound.

    Returns
    -------
    dict with ``recording_direction_deg``, ``recording_speed_rel`` (if ``duration``),
    ``sample_direction_deg``, ``sample_speed_rel`` and ``sample_direction_median_abs_deg``
    (median absolute error of a normal error, 0.674 sd) (if ``band``).
    """
    x = np.asarray(positions, float)
    xc = x - x.mean(axis=0)
    u = np.array([np.cos(direction), np.sin(direction)])
    s_par = float(np.sum((xc @ u) ** 2))
    s_perp = float(np.sum((xc @ np.array([-u[1], u[0]])) ** 2))
    kmag = 2 * np.pi * frequency / speed
    out = {}
    if duration is not None:
        n = duration * fs
        info = (amplitude / noise_sd) ** 2 * n / 2
        out["recording_direction_deg"] = float(np.degrees(1 / np.sqrt(info * s_perp) / kmag))
        out["recording_speed_rel"] = float(1 / np.sqrt(info * s_par) / kmag)
    if band is not None:
        sig_phi = noise_sd * np.sqrt(2 * noise_bandwidth(band, fs) / fs) / amplitude
        out["sample_phase_sd_rad"] = float(sig_phi)
        out["sample_direction_deg"] = float(np.degrees(sig_phi / np.sqrt(s_perp) / kmag))
        out["sample_direction_median_abs_deg"] = 0.674 * out["sample_direction_deg"]
        out["sample_speed_rel"] = float(sig_phi / np.sqrt(s_par) / kmag)
    return out
