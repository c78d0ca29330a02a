"""The k-omega route's own test: does its ridge stand above a field without delays?

A k-omega ridge always lies somewhere: white noise, a field correlated in space at zero
lag, or a bank of modes decaying in place each put more power along some line
``w = v k`` than along others. The test asks whether the data's ridge collects more of
the spectrum's power than the ridge of a field with the same spectra and the same
zero-lag spatial correlation but no delay between sites: the lag-free surrogates of
:class:`~wavescope.signal.surrogates.LagFreeSurrogates`, the null the phase route's wave
epochs use, drawn here over the whole spectrum of the line's samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from wavescope.core.field import WaveField
from wavescope.core.validate import check_int
from wavescope.signal.surrogates import LagFreeSurrogates
from wavescope.waves.broadband import (
    RidgeLines,
    default_speed_range,
    komega_line,
    komega_power,
    speed_grid,
)

__all__ = ["RidgeTest", "komega_ridge_test", "ridge_concentration"]

#: Lag-free surrogates of the test: 39 let a Monte Carlo p-value reach 0.025, so that
#: ``p <= 0.05`` is an exact 5% test (at most one surrogate at or above the data).
N_RIDGE_SURROGATES = 39

#: Speeds per direction the test's ridge search tries (the estimator's own search uses
#: 4000 on a 4x padded spectrum; the test's statistic needs the ridge's power, not its
#: slope to 1e-6).
N_TEST_SPEEDS = 512


@dataclass(frozen=True)
class RidgeTest:
    """The k-omega ridge against lag-free surrogates.

    Attributes
    ----------
    concentration : float
        Share of the spectrum's power (``k > 0``) along the data's best line ``w = v k``.
    null : ndarray
        The same statistic on each lag-free surrogate.
    p_value : float
        ``(1 + #(null >= concentration)) / (1 + n_surrogates)``.
    """

    concentration: float
    null: np.ndarray
    p_value: float


def ridge_concentration(x: np.ndarray, dx: float, fs: float, speeds: np.ndarray) -> float:
    """Largest share of the k-omega power (``k > 0``, unpadded spectrum of ``x``, shape
    (n_sites, n_times), sites ``dx`` apart, sampled at ``fs``) along one line ``w = v k``
    over the ``speeds`` given (``space_unit / time_unit``, both signs)."""
    lines = RidgeLines(*komega_power(x, dx, fs, pad=1), fs)
    if not lines.total > 0:
        return 0.0
    return float(lines.power(speeds).max() / lines.total)


def komega_ridge_test(
    field: WaveField,
    *,
    speed_range=None,
    n_surrogates: int = N_RIDGE_SURROGATES,
    seed=0,
) -> RidgeTest:
    """Test the k-omega ridge of a line of sites against lag-free surrogates.

    The statistic is the share of the k-omega power that the best line ``w = v k``
    collects (:func:`ridge_concentration`, over the speeds the estimator searches), on
    the samples :func:`~wavescope.waves.broadband.komega_velocity` reads (the energy
    span of the good sites, in order). Each surrogate keeps each site's power per
    sub-band and the real part of the sites' cross-spectral matrix (their zero-lag
    correlation) and removes every lag (:class:`LagFreeSurrogates` over the whole
    spectrum): a travelling wave's ridge collects more power than any such field, a
    field whose sites are merely correlated (or independent) does not.

    Parameters
    ----------
    field : WaveField
        Sites on an evenly spaced line (as :func:`komega_velocity` needs).
    speed_range : (float, float), optional
        Speeds searched, ``field.speed_unit``; default as :func:`komega_velocity`.
    n_surrogates : int
        Lag-free surrogates drawn (at least 1).
    seed : int or numpy Generator

    Returns
    -------
    RidgeTest
    """
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    x, dx = komega_line(field)
    if speed_range is None:
        lo, hi = default_speed_range(dx, field.fs, field.n_times)
    else:
        lo, hi = (float(v) for v in speed_range)
    speeds = speed_grid(lo, hi, N_TEST_SPEEDS)
    stat = ridge_concentration(x, dx, field.fs, speeds)
    n_t = x.shape[1]
    coef = sfft.rfft(x, axis=1)[:, 1:]  # the mean is removed: no power at 0
    null_model = LagFreeSurrogates(coef)
    rng = np.random.default_rng(seed)
    null = np.empty(n_surrogates)
    for i in range(n_surrogates):
        c = np.concatenate([np.zeros((len(x), 1), complex), null_model.draw(rng)], axis=1)
        null[i] = ridge_concentration(sfft.irfft(c, n_t, axis=1), dx, field.fs, speeds)
    p = (1 + int(np.sum(null >= stat))) / (1 + n_surrogates)
    return RidgeTest(stat, null, float(p))
