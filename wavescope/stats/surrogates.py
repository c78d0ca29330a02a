"""Surrogate fields: null models without travelling waves that keep what should be kept.

Each surrogate destroys the spatiotemporal structure a wave needs while keeping a
property of the data that could otherwise fake or hide a wave:

- :func:`shuffle_positions`: sites swap positions (each site's signal is intact, the
  map of phase over space is scrambled);
- :func:`randomise_phases`: each site's Fourier phases are randomised independently,
  so every site keeps its power spectrum (autocorrelation) exactly, while the phase
  relations between sites are destroyed (Theiler et al. 1992; Prichard & Theiler 1994
  for the multivariate version with ``common=True``, which keeps cross-spectra too);
- :func:`shift_times`: each site is shifted circularly in time by its own random lag,
  which keeps each site's signal and spectrum exactly and breaks the timing between
  sites.

All return a new :class:`~wavescope.core.field.WaveField` with the same sites, units
and bad mask; bad sites are left untouched.

References
----------
Theiler J, Eubank S, Longtin A, Galdrikian B, Farmer JD (1992). Testing for nonlinearity
in time series: the method of surrogate data. Physica D 58, 77-94.
Prichard D, Theiler J (1994). Generating surrogate data for time series with several
simultaneously measured variables. Phys Rev Lett 73, 951-954.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_option

__all__ = [
    "SURROGATES",
    "SurrogateTest",
    "randomise_phases",
    "shift_times",
    "shuffle_positions",
    "surrogate_test",
    "surrogates",
]

#: Kinds accepted by :func:`surrogates`.
SURROGATES = ("positions", "phases", "shifts")


def _check(field) -> WaveField:
    if not isinstance(field, WaveField):
        raise WaveInputError(f"expected a WaveField, got {type(field).__name__}.")
    return field


def shuffle_positions(field: WaveField, seed=None) -> WaveField:
    """Randomly permute the positions of the good sites.

    Parameters
    ----------
    field : WaveField
    seed : int or numpy Generator, optional

    Returns
    -------
    WaveField
        Same data, with ``positions[good]`` permuted (bad sites keep theirs).
    """
    field = _check(field)
    rng = np.random.default_rng(seed)
    good = field.good
    pos = field.positions.copy()
    pos[good] = field.positions[rng.permutation(good)]
    return replace(field, positions=pos)


def randomise_phases(field: WaveField, seed=None, *, common: bool = False) -> WaveField:
    """Fourier-phase-randomised surrogate that keeps each site's amplitude spectrum.

    The surrogate of a field in time; to rotate the coefficients of a band's spectrum
    directly (every bin, no DC or Nyquist term) use
    :func:`wavescope.signal.randomise_coef_phases`.

    Parameters
    ----------
    field : WaveField
    seed : int or numpy Generator, optional
    common : bool
        False (default): independent random phases per site, destroying inter-site
        phase relations. True: the same random phases at every site (multivariate
        surrogate), which keeps every cross-spectrum and so the waves' phase lags too.

    Returns
    -------
    WaveField
        Real surrogate data of the same length; the DC term (and the Nyquist term for
        even lengths) keep their phase, so each site's mean and ``|rfft|`` are
        preserved exactly (to rounding).

    Notes
    -----
    ``x_s = irfft(rfft(x) * exp(i theta))`` with ``theta`` uniform on [0, 2 pi) per
    frequency bin (and per site unless ``common``).
    """
    field = _check(field)
    rng = np.random.default_rng(seed)
    good = field.good
    n = field.n_times
    coef = np.fft.rfft(field.data[good].astype(np.float64), axis=1)
    shape = (1 if common else len(good), coef.shape[1])
    theta = rng.uniform(0, 2 * np.pi, size=shape)
    theta[:, 0] = 0.0
    if n % 2 == 0:
        theta[:, -1] = 0.0
    out = field.data.copy()
    out[good] = np.fft.irfft(coef * np.exp(1j * theta), n=n, axis=1).astype(out.dtype)
    return field.with_data(out)


def shift_times(field: WaveField, seed=None, *, min_shift: int | None = None) -> WaveField:
    """Circularly shift each good site by its own random lag.

    Parameters
    ----------
    field : WaveField
    seed : int or numpy Generator, optional
    min_shift : int, optional
        Smallest lag in samples (default: a tenth of the record), so that no site is
        left near its original timing; lags are uniform in
        ``[min_shift, n_times - min_shift]``.

    Returns
    -------
    WaveField
    """
    field = _check(field)
    rng = np.random.default_rng(seed)
    n = field.n_times
    m = max(1, n // 10) if min_shift is None else int(min_shift)
    if n < 2 * m + 1 or m < 0:
        raise WaveInputError(
            f"min_shift={m} leaves no lag for {n} samples; use min_shift < {n // 2}."
        )
    good = field.good
    lags = rng.integers(m, n - m + 1, size=len(good))
    rows = (np.arange(n)[None, :] - lags[:, None]) % n
    out = field.data.copy()
    out[good] = np.take_along_axis(field.data[good], rows, axis=1)
    return field.with_data(out)


def surrogates(field: WaveField, kind: str = "phases", n: int = 10, seed=0) -> Iterator[WaveField]:
    """Yield ``n`` surrogates of one kind (``"positions"``, ``"phases"`` or ``"shifts"``).

    Examples
    --------
    >>> null = [measure(s) for s in surrogates(field, "phases", n=20)]  # doctest: +SKIP
    """
    check_option("kind", kind, SURROGATES)
    fn = {"positions": shuffle_positions, "phases": randomise_phases, "shifts": shift_times}[kind]
    rng = np.random.default_rng(seed)
    for _ in range(int(n)):
        yield fn(field, rng)


@dataclass(frozen=True)
class SurrogateTest:
    """Observed statistic of a field against its surrogates.

    Attributes
    ----------
    statistic : float
        ``statistic(field)``.
    p_value : float
        ``(1 + #{null >= statistic}) / (1 + n)`` for ``alternative="greater"`` (mirror
        for ``"less"``); never below ``1 / (n + 1)``.
    null : ndarray (n,)
        The statistic on each surrogate.
    kind : str
    """

    statistic: float
    p_value: float
    null: np.ndarray
    kind: str


def surrogate_test(
    field: WaveField,
    statistic: Callable[[WaveField], float],
    kind: str = "phases",
    *,
    n: int = 99,
    alternative: str = "greater",
    seed=0,
) -> SurrogateTest:
    """Test whether a wave property of one field exceeds what its surrogates give.

    Parameters
    ----------
    field : WaveField
    statistic : callable
        ``statistic(field) -> float``, e.g.
        ``lambda f: np.median(measure_velocity(f, band).pgd)``.
    kind : {"positions", "phases", "shifts"}
        The null model (see :func:`surrogates`).
    n : int
        Number of surrogates (99 allows p down to 0.01).
    alternative : {"greater", "less"}
    seed : int or numpy Generator

    Returns
    -------
    SurrogateTest
        Monte Carlo p-value, valid when the field is exchangeable with its surrogates
        under the null (e.g. phase randomisation of a stationary linear Gaussian process
        without inter-site structure).
    """
    check_option("alternative", alternative, ("greater", "less"))
    if int(n) < 1:
        raise WaveInputError(f"n must be >= 1 surrogate, got {n}.")
    obs = float(statistic(field))
    if not np.isfinite(obs):
        raise WaveInputError("the statistic is NaN/inf on the field itself; check it first.")
    null = np.array([float(statistic(s)) for s in surrogates(field, kind, n, seed)])
    if alternative == "greater":
        hits = np.sum(null >= obs)
    else:
        hits = np.sum(null <= obs)
    return SurrogateTest(obs, float((1 + hits) / (1 + len(null))), null, kind)
