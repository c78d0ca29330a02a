"""The aperiodic (1/f) component of a power spectrum and the oscillatory peaks above it.

Recorded LFP and ECoG spectra fall as ``1 / f^chi`` (chi of 1-2) and carry oscillations as
peaks above that background. Whether a field holds an oscillation to follow with its phase
is a question about a peak that stands above the aperiodic fit, not about how much of the
raw power lies near the spectrum's maximum (under a 1/f background the maximum is at the
lowest frequency whatever the field holds). This module parameterises a spectrum the way
the field does (Donoghue et al. 2020, the FOOOF / specparam algorithm) in the part that
decides that question:

1. an aperiodic fit ``P = 10^b f^-chi + 10^w`` in log power: fooof's "fixed" power law
   plus a flat floor ``w`` that recordings sink into at high frequencies (amplifier and
   quantisation noise; without it a 1/f spectrum with a white floor reads as chi near 0
   and its peaks drown in the misfit), first on all points, then robustly on the points
   at or below the first fit (so that peaks do not pull the fit up);
2. the flattened spectrum (log power minus the aperiodic fit); its largest maximum is a
   peak when it stands ``peak_threshold`` standard deviations of the flattened spectrum
   above its median and at least ``min_peak_height`` (log10 power) high; its bandwidth is
   the full width at half its height. Only the largest peak is kept (the one a phase
   analysis follows), and the threshold is set so that aperiodic spectra rarely pass,
   where fooof's default reports a peak in most of them.

The tests compare the exponent and the peak with the ``fooof`` package on simulated
spectra (``tests/signal/test_aperiodic.py``).

References
----------
Donoghue T, Haller M, Peterson EJ, et al. (2020). Parameterizing neural power spectra into
periodic and aperiodic components. Nat Neurosci 23, 1655-1665.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavescope.core.validate import WaveInputError

LN10 = float(np.log(10.0))

__all__ = ["SpectralPeak", "SpectrumModel", "fit_spectrum"]


@dataclass(frozen=True)
class SpectralPeak:
    """An oscillatory peak above the aperiodic fit.

    Attributes
    ----------
    frequency : float
        Centre (the flattened spectrum's maximum), in the frequency unit of the input
        (Hz for a recording, 1/step for model states).
    height : float
        Height above the aperiodic fit, log10 power (1.0: ten times the background).
    bandwidth : float
        Full width at half height, same unit as ``frequency``.
    low, high : float
        Where the flattened spectrum falls to half the height on either side.
    """

    frequency: float
    height: float
    bandwidth: float
    low: float
    high: float


@dataclass(frozen=True)
class SpectrumModel:
    """A power spectrum split into its aperiodic component and its largest peak.

    Attributes
    ----------
    offset : float
        ``b`` of the aperiodic component ``P = 10^b f^-chi + 10^w`` (log10 power).
    exponent : float
        ``chi``, the aperiodic exponent (1/f: 1; brown noise: 2; white noise: 0).
    floor : float
        ``w``, the level of a flat (white) floor the power law sinks into at high
        frequencies (amplifier noise), log10 power; very negative when there is none.
    peak : SpectralPeak or None
        The largest peak that passes the thresholds; None when the spectrum is aperiodic.
    freq_range : tuple of float
        The frequencies fitted.
    noise : float
        Standard deviation of the flattened spectrum (log10 power) away from the peak: how
        rough the spectrum is, the unit of ``peak_threshold``.
    """

    offset: float
    exponent: float
    floor: float
    peak: SpectralPeak | None
    freq_range: tuple[float, float]
    noise: float

    def aperiodic(self, f) -> np.ndarray:
        """The aperiodic fit at frequencies ``f``, log10 power."""
        return _aperiodic(np.log10(np.asarray(f, float)), self.offset, self.exponent, self.floor)


def _aperiodic(logf, offset: float, exponent: float, floor: float) -> np.ndarray:
    """``log10(10^offset f^-exponent + 10^floor)``, computed without overflow."""
    return np.logaddexp((offset - exponent * logf) * LN10, floor * LN10) / LN10


def _fit_aperiodic(logf: np.ndarray, logp: np.ndarray, init) -> tuple[float, float, float]:
    from scipy.optimize import least_squares  # lazily: scipy.optimize costs start-up time

    res = least_squares(
        lambda q: _aperiodic(logf, *q) - logp,
        init,
        bounds=([-np.inf, -1.0, -np.inf], [np.inf, 6.0, np.inf]),
    )
    return float(res.x[0]), float(res.x[1]), float(res.x[2])


def _robust_aperiodic(logf, logp, robust_percentile: float) -> tuple[float, float, float]:
    """The aperiodic parameters (offset, exponent, floor): a power law, or a power law
    with a floor where the floor explains the lower envelope better (BIC); the floor is
    -inf for a plain power law."""
    slope, icept = np.polyfit(logf, logp, 1)
    line = (float(icept), float(-slope), -np.inf)
    resid = logp - _aperiodic(logf, *line)
    # fooof's robust refit: the points at or below the first fit (its residual clipped at
    # zero, then under a low percentile) carry the background, not the peaks
    keep = np.clip(resid, 0, None) <= np.percentile(np.clip(resid, 0, None), robust_percentile)
    if keep.sum() < 4 or np.ptp(logf[keep]) == 0:
        return line
    slope, icept = np.polyfit(logf[keep], logp[keep], 1)
    line = (float(icept), float(-slope), -np.inf)
    # the initial exponent inside the fit's bounds (a spectrum steeper than f^-6 exists)
    start = (line[0], float(np.clip(line[1], 0.0, 6.0)), float(logp.min()) - 1.0)
    floored = _fit_aperiodic(logf, logp, start)
    resid = logp - _aperiodic(logf, *floored)
    keep_f = np.clip(resid, 0, None) <= np.percentile(np.clip(resid, 0, None), robust_percentile)
    if keep_f.sum() >= 4 and np.ptp(logf[keep_f]) > 0:
        floored = _fit_aperiodic(logf[keep_f], logp[keep_f], floored)
    # compare the two on all points, where the misfit of a missing floor shows: the
    # Bayesian information criterion of each (2 and 3 parameters)
    n = logf.size
    bic = [
        n * np.log(max(float(np.mean((logp - _aperiodic(logf, *q)) ** 2)), 1e-300)) + k * np.log(n)
        for q, k in ((line, 2), (floored, 3))
    ]
    return floored if bic[1] < bic[0] - 10 else line


def fit_spectrum(
    freqs,
    power,
    freq_range: tuple[float, float] | None = None,
    *,
    peak_threshold: float | None = None,
    min_peak_height: float = 0.1,
    robust_percentile: float = 0.025,
) -> SpectrumModel:
    """Fit the aperiodic component of a power spectrum and find its largest peak.

    Parameters
    ----------
    freqs : array_like, shape (n,)
        Frequencies, in any unit (Hz, 1/step), all positive inside ``freq_range``.
    power : array_like, shape (n,)
        Power spectral density at ``freqs`` (linear, positive), e.g. a site-averaged
        Welch spectrum.
    freq_range : (float, float), optional
        Frequencies to fit (default: every positive frequency given).
    peak_threshold : float, optional
        A peak must stand this many standard deviations of the flattened spectrum above
        the aperiodic fit. Default: the normal quantile of ``0.05 / n`` for ``n``
        fitted frequencies (3.5 for 200), so that the largest of ``n`` noisy points of
        an aperiodic spectrum passes in about 5% of spectra; fooof's 2 passes the largest
        noisy point of most of them (34 of 40 pure 1/f spectra of 200 points).
    min_peak_height : float
        ... and at least this high, in log10 power (0.1: 26% above the background).
    robust_percentile : float
        The aperiodic fit is redone on the points whose residual from the first fit,
        clipped at zero, lies at or below this percentile (fooof's rule and default
        value): the points under the first fit, which leaves the peaks out of it.

    Returns
    -------
    SpectrumModel

    Raises
    ------
    WaveInputError
        Fewer than 8 frequencies in ``freq_range``, or power that is not positive and
        finite there.
    """
    f = np.asarray(freqs, float).ravel()
    p = np.asarray(power, float).ravel()
    if f.shape != p.shape:
        raise WaveInputError(f"freqs has {f.size} values and power {p.size}; give one each.")
    lo, hi = (
        (f[f > 0].min(initial=np.inf), f.max(initial=0.0)) if freq_range is None else freq_range
    )
    sel = (f >= lo) & (f <= hi) & (f > 0)
    if sel.sum() < 8:
        raise WaveInputError(
            f"{int(sel.sum())} frequencies in {lo:g}-{hi:g}: too few to fit a spectrum "
            "(need at least 8); use a longer record or a wider range."
        )
    f, p = f[sel], p[sel]
    if not (np.all(np.isfinite(p)) and np.all(p > 0)):
        raise WaveInputError(
            "the power spectrum has zero, negative or non-finite values in the fitted range; "
            "check the data for flat or non-finite sites."
        )
    logf, logp = np.log10(f), np.log10(p)
    offset, exponent, floor = _robust_aperiodic(logf, logp, robust_percentile)
    flat = logp - _aperiodic(logf, offset, exponent, floor)
    # heights are measured from the flattened spectrum's median (the robust fit runs along
    # the lower envelope of a noisy spectrum, which would lift every point above it)
    base = float(np.median(flat))
    offset, floor = offset + base, floor + base
    flat = flat - base
    i = int(np.argmax(flat))
    height = float(flat[i])
    half = height / 2
    j_lo = i
    while j_lo > 0 and flat[j_lo - 1] > half:
        j_lo -= 1
    j_hi = i
    while j_hi < flat.size - 1 and flat[j_hi + 1] > half:
        j_hi += 1
    away = np.ones(flat.size, bool)
    width = max(j_hi - j_lo + 1, 1)
    away[max(0, j_lo - width) : j_hi + width + 1] = False
    noise = float(np.std(flat[away])) if away.sum() >= 4 else float(np.std(flat))
    peak = None
    if peak_threshold is None:
        from scipy.stats import norm  # lazily: scipy.stats costs start-up time

        peak_threshold = float(norm.isf(0.05 / flat.size))
    if height >= max(peak_threshold * noise, min_peak_height) and 0 < i < flat.size - 1:
        f_lo = _crossing(f, flat, j_lo - 1, j_lo, half) if j_lo > 0 else f[0]
        f_hi = _crossing(f, flat, j_hi, j_hi + 1, half) if j_hi < f.size - 1 else f[-1]
        peak = SpectralPeak(float(f[i]), height, float(f_hi - f_lo), float(f_lo), float(f_hi))
    return SpectrumModel(
        float(offset), float(exponent), float(floor), peak, (float(lo), float(hi)), noise
    )


def _crossing(f, y, a: int, b: int, level: float) -> float:
    """Frequency where ``y`` crosses ``level`` between samples ``a`` and ``b`` (linear)."""
    if y[b] == y[a]:
        return float(f[a])
    w = (level - y[a]) / (y[b] - y[a])
    return float(f[a] + np.clip(w, 0.0, 1.0) * (f[b] - f[a]))
