"""Phase and instantaneous frequency of analytic signals, and generalized phase."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from wavescope.core.validate import WaveInputError, check_positive

__all__ = ["instantaneous_frequency", "generalized_phase"]


def instantaneous_frequency(z, fs: float) -> np.ndarray:
    """Instantaneous frequency of an analytic signal by phase differences.

    ``f[t] = angle(z[t+1] conj(z[t])) fs / (2 pi)``, the last sample repeating the one
    before it.

    Parameters
    ----------
    z : ndarray, complex, shape (n_sites, n_times)
    fs : float
        Samples per time unit.

    Returns
    -------
    f : ndarray, shape (n_sites, n_times)
        Cycles per time unit (Hz for time in seconds). Negative where the phase turns
        backwards.
    """
    z = np.asarray(z)
    if not np.iscomplexobj(z) or z.ndim != 2:
        raise WaveInputError("z must be a complex (n_sites, n_times) analytic signal.")
    fs = check_positive("fs", fs)
    f = np.empty(z.shape, dtype=z.real.dtype)
    # wrapped difference of angles, not angle(z[t+1] conj(z[t])): the product of two
    # samples overflows (or underflows to 0) for data beyond about 1e19 (1e-19) in float32
    ph = np.angle(z)
    d = ph[:, 1:] - ph[:, :-1]
    d -= (2 * np.pi) * np.rint(d / (2 * np.pi))
    f[:, :-1] = d * (fs / (2 * np.pi))
    f[:, -1] = f[:, -2] if z.shape[1] > 1 else 0.0
    return f


def generalized_phase(z, fs: float, *, min_freq: float = 0.0, extend: float = 3.0) -> np.ndarray:
    """Generalized phase of a wideband analytic signal (Davis et al. 2020).

    The analytic signal of a wideband signal has intervals where the phase runs backwards
    (negative instantaneous frequency), produced by riding waves and noise rather than
    by the dominant oscillation. Generalized phase removes them: each such interval,
    extended forwards by ``extend`` times its own length, is replaced by shape-preserving
    cubic (PCHIP) interpolation of the unwrapped phase from the samples around it.

    Parameters
    ----------
    z : ndarray, complex, shape (n_sites, n_times)
        Analytic signal of a wideband-filtered recording (e.g. 5-40 Hz).
    fs : float
        Samples per time unit of ``z``.
    min_freq : float
        Instantaneous frequencies (cycles per time unit) below this count as backwards;
        0 by default, as in the published method.
    extend : float
        How far each interval is extended, in multiples of its length (3 in the
        published code).

    Returns
    -------
    zgp : ndarray, complex, shape (n_sites, n_times)
        ``|z| exp(i phi_gp)``: the amplitude of ``z`` with the repaired phase. If the
        signal mostly rotates clockwise (negative mean frequency), it is conjugated first.

    References
    ----------
    Davis ZW, Muller L, Martinez-Trujillo J, Sejnowski T, Reynolds JH (2020).
    Spontaneous travelling cortical waves gate perception in behaving primates.
    Nature 587, 432-436.
    """
    z = np.asarray(z)
    freq = instantaneous_frequency(z, fs)
    if np.nanmean(freq) < 0:
        z, freq = np.conj(z), -freq
    amp = np.abs(z)
    phase = np.angle(z)
    out = phase.copy()
    n = z.shape[1]
    t = np.arange(n)
    for i in range(z.shape[0]):
        back = freq[i] < min_freq
        back[0] = False
        if not back.any():
            continue
        edges = np.diff(back.astype(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        new_ends = np.minimum(starts + np.round((ends - starts) * extend).astype(int), n - 1)
        new_ends = np.maximum(new_ends, ends)
        mark = np.zeros(n + 1, int)
        np.add.at(mark, starts, 1)
        np.add.at(mark, new_ends + 1, -1)
        masked = np.cumsum(mark[:n]) > 0
        keep = ~masked
        if keep.sum() < 2:
            continue
        unwrapped = np.unwrap(phase[i, keep])
        interp = PchipInterpolator(t[keep], unwrapped, extrapolate=True)
        filled = phase[i].copy()
        filled[masked] = interp(t[masked])
        out[i] = filled
    out = (out + np.pi) % (2 * np.pi) - np.pi
    res = np.empty(z.shape, z.dtype)
    res.real, res.imag = amp * np.cos(out), amp * np.sin(out)
    return res
