"""How far a field is correlated in space at zero lag.

Volume conduction and common inputs make neighbouring contacts of an LFP or ECoG array
share much of their background. :func:`correlation_length` measures that from the
recording itself, so that simulations of it (``wavescope calibrate``) carry the same
spatial structure.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError

__all__ = ["correlation_length"]


def correlation_length(data, positions, *, max_pairs: int = 20000, seed=0) -> tuple[float, float]:
    """Fit ``corr(d) = (1 - w) exp(-d^2 / (2 L^2))`` to the zero-lag correlation of site
    pairs against their distance ``d``.

    Parameters
    ----------
    data : ndarray, shape (n_sites, n_times)
        The background (e.g. a recording outside its wave band), any unit.
    positions : ndarray, shape (n_sites, d)
        Site positions, space unit.
    max_pairs : int
        Pairs used at most (drawn at random beyond that).
    seed : int
        Seed of that draw.

    Returns
    -------
    length : float
        ``L``, space unit: the distance over which the shared background decays to
        ``exp(-1/2)`` of its value at zero distance.
    white_fraction : float
        ``w`` in [0, 1): the share of each site's variance it shares with no other site
        (amplifier noise; the correlation's drop at the smallest distances).

    Raises
    ------
    WaveInputError
        Fewer than 3 sites, or sites without variance.
    """
    x = np.asarray(data, np.float64)
    pos = np.asarray(positions, np.float64).reshape(len(x), -1)
    if len(x) < 3:
        raise WaveInputError(f"{len(x)} site(s): a correlation length needs at least 3.")
    x = x - x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1)
    if not np.all(sd > 0):
        raise WaveInputError("some sites have no variance; mark them bad first.")
    x /= sd[:, None]
    i, j = np.triu_indices(len(x), 1)
    if i.size > max_pairs:
        pick = np.random.default_rng(seed).choice(i.size, max_pairs, replace=False)
        i, j = i[pick], j[pick]
    r = np.einsum("pt,pt->p", x[i], x[j]) / x.shape[1]
    d = np.sqrt(((pos[i] - pos[j]) ** 2).sum(1))
    # least squares on the mean correlation per distance bin (pairs at one distance are
    # many and noisy; a fit in log r would be led by the small, noisy ones far apart)
    edges = np.unique(np.quantile(d, np.linspace(0, 1, 21)))
    which = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(which, minlength=len(edges) - 1)
    keep = counts > 0
    db = np.bincount(which, d, len(edges) - 1)[keep] / counts[keep]
    rb = np.bincount(which, r, len(edges) - 1)[keep] / counts[keep]
    if db.size < 3:
        return float(np.min(d)) / 2, float(np.clip(1 - np.max(r, initial=0.0), 0.0, 0.99))
    from scipy.optimize import curve_fit  # lazily: scipy.optimize costs start-up time

    def model(dist, shared, length):
        return shared * np.exp(-(dist**2) / (2 * length**2))

    try:
        (shared, length), _ = curve_fit(
            model, db, rb, p0=(max(rb[0], 0.1), float(np.median(db))),
            bounds=([0.0, 1e-3 * float(db.min())], [1.0, 100 * float(db.max())]),
            sigma=1 / np.sqrt(counts[keep]),
        )  # fmt: skip
    except RuntimeError:  # no convergence: a field without shared structure
        return float(np.min(d)) / 2, 0.99
    return float(length), float(np.clip(1 - shared, 0.0, 0.99))
