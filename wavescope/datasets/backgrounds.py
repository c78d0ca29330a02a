"""Backgrounds with the statistics of real recordings, and signals mixed into them at a
stated in-band SNR.

LFP and ECoG backgrounds are not white: their spectrum falls as ``1 / f^chi`` (chi of
1-2) and neighbouring contacts share much of it (volume conduction, common inputs), so
the background is correlated in space at zero lag. :func:`pink_background` draws such a
field; :func:`mix_at_snr` adds a signal at a given SNR measured where the wave lives,
within a band around its frequency, the way an experimenter reads it off a spectrum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_positive

__all__ = ["in_band_power", "mix_at_snr", "pink_background"]


def _spatial_root(positions: np.ndarray, length: float) -> np.ndarray:
    """A square root of the Gaussian spatial covariance ``exp(-d^2 / (2 length^2))``."""
    d2 = np.sum((positions[:, None, :] - positions[None, :, :]) ** 2, axis=-1)
    w, v = np.linalg.eigh(np.exp(-d2 / (2 * length**2)))
    return v * np.sqrt(np.clip(w, 0, None))


def pink_background(
    positions,
    *,
    fs: float,
    duration: float,
    exponent: float = 1.0,
    smooth_length: float | None = None,
    white_fraction: float = 0.0,
    fmin: float | None = None,
    seed=None,
    space_unit: str = "m",
    time_unit: str = "s",
    dtype=np.float32,
) -> WaveField:
    """Aperiodic ``1 / f^exponent`` noise, spatially correlated at zero lag.

    Each frequency bin gets complex Gaussian coefficients with amplitude
    ``f^(-exponent / 2)`` and the spatial covariance ``exp(-d^2 / (2 smooth_length^2))``
    (real: no delay between sites, so no propagation). Independent white noise of
    ``white_fraction`` of the total variance is added at every site (amplifier noise).

    Parameters
    ----------
    positions : ndarray, shape (n_sites, d)
        Site positions, ``space_unit``.
    fs : float
        Samples per ``time_unit``.
    duration : float
        ``time_unit``.
    exponent : float
        Aperiodic exponent chi (0 white, 1 pink, 2 brown).
    smooth_length : float, optional
        Spatial correlation length, ``space_unit`` (None: independent sites).
    white_fraction : float
        Share of the variance that is independent white noise, in [0, 1).
    fmin : float, optional
        Below this frequency (cycles per ``time_unit``) the spectrum is flat, so that the
        record has no drift larger than itself (default: 1 / duration).

    Returns
    -------
    WaveField
        Unit variance per site; ``meta["truth"]`` names the pattern ``"pink-noise"``.
    """
    fs, duration = check_positive("fs", fs), check_positive("duration", duration)
    pos = np.asarray(positions, float)
    if pos.ndim == 1:
        pos = pos[:, None]
    if not 0 <= white_fraction < 1:
        raise WaveInputError(f"white_fraction={white_fraction!r} must lie in [0, 1).")
    n = int(round(fs * duration))
    rng = np.random.default_rng(seed)
    f = np.fft.rfftfreq(n, 1 / fs)
    f_floor = 1 / duration if fmin is None else check_positive("fmin", fmin)
    amp = np.maximum(f, f_floor) ** (-exponent / 2)
    amp[0] = 0.0
    z = rng.standard_normal((len(pos), f.size)) + 1j * rng.standard_normal((len(pos), f.size))
    if smooth_length is not None:
        z = _spatial_root(pos, check_positive("smooth_length", smooth_length)) @ z
    data = np.fft.irfft(z * amp, n, axis=1)
    data /= np.std(data, axis=1, keepdims=True)
    if white_fraction > 0:
        data = np.sqrt(1 - white_fraction) * data + np.sqrt(white_fraction) * rng.standard_normal(
            data.shape
        )
    truth = dict(
        pattern="pink-noise",
        exponent=float(exponent),
        smooth_length=None if smooth_length is None else float(smooth_length),
        white_fraction=float(white_fraction),
    )
    return WaveField(data.astype(dtype), fs, pos, space_unit, time_unit, meta={"truth": truth})


def in_band_power(data: np.ndarray, fs: float, band: tuple[float, float]) -> float:
    """Mean power per site within ``band`` (cycles per time unit), data units squared."""
    x = np.asarray(data, np.float64)
    n = x.shape[-1]
    f = np.fft.rfftfreq(n, 1 / fs)
    sel = (f >= band[0]) & (f <= band[1])
    spec = np.abs(np.fft.rfft(x, axis=-1)[..., sel]) ** 2
    return float(2 * spec.sum(axis=-1).mean() / n**2)


def mix_at_snr(
    signal: WaveField, background: WaveField, snr_db: float, band: tuple[float, float]
) -> WaveField:
    """``signal`` plus ``background`` scaled to the in-band SNR ``snr_db``.

    The SNR is ``10 log10(P_signal / P_background)`` with both powers measured within
    ``band`` (cycles per time unit), e.g. +-2 Hz around a wave's frequency: how far the
    wave's peak stands above the background near it, whatever the background does
    elsewhere. The result keeps the signal's truth and records the SNR and the
    background's parameters.
    """
    if signal.data.shape != background.data.shape or signal.fs != background.fs:
        raise WaveInputError(
            "signal and background differ in shape or sampling rate; draw the background "
            "on the signal's positions, fs and duration."
        )
    p_sig = in_band_power(signal.data, signal.fs, band)
    p_bg = in_band_power(background.data, background.fs, band)
    if not (p_sig > 0 and p_bg > 0):
        raise WaveInputError(f"no power in band {band} of the signal or of the background.")
    gain = np.sqrt(p_sig / p_bg / 10 ** (snr_db / 10))
    data = signal.data.astype(np.float64) + gain * background.data.astype(np.float64)
    meta = dict(signal.meta)
    truth = dict(meta.get("truth", {}))
    truth.update(
        snr_db=float(snr_db),
        snr_band=[float(band[0]), float(band[1])],
        background=dict(background.meta.get("truth", {})),
    )
    meta["truth"] = truth
    return replace(signal, data=data.astype(signal.data.dtype), meta=meta)
