"""Wave epochs: stretches where a wave measure stays above a surrogate-based threshold."""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError, check_open_unit

__all__ = ["null_threshold", "find_epochs"]


def null_threshold(null_values, alpha: float) -> float:
    """The ``1 - alpha`` quantile of a measure's values under the null (surrogates).

    Parameters
    ----------
    null_values : array_like
        Values of the measure (e.g. PGD) on surrogate data, pooled; NaNs ignored.
    alpha : float
        Target false-positive rate per sample, in (0, 1).
    """
    alpha = check_open_unit("alpha (CLI: --alpha)", alpha, " (false-positive rate)")
    v_all = np.asarray(null_values, float).ravel()
    v = v_all[np.isfinite(v_all)]
    need = int(np.ceil(1 / alpha))
    if v.size < need:
        why = (
            f" ({v_all.size - v.size} of the {v_all.size} are undefined: the measure is NaN "
            "where no site has a usable phase gradient, e.g. no in-band signal or sites "
            "whose neighbours lie on one line)"
            if v_all.size > v.size
            else ""
        )
        raise WaveInputError(
            f"{v.size} finite null values are too few to set a threshold at alpha={alpha:g} "
            f"(need at least {need}){why}. Use more surrogates (n_surrogates; CLI: "
            "--n-surrogates), a larger alpha (CLI: --alpha), or a longer recording; or "
            "n_surrogates=0 (CLI: --n-surrogates 0) for no wave epochs."
        )
    return float(np.quantile(v, 1 - alpha))


def find_epochs(stat, threshold: float, min_samples: int = 1, valid=None):
    """Runs of samples where ``stat > threshold`` lasting at least ``min_samples``.

    Parameters
    ----------
    stat : ndarray, shape (n_times,)
    threshold : float
    min_samples : int
        Minimum run length in samples.
    valid : ndarray of bool, shape (n_times,), optional
        Samples allowed in an epoch (e.g. away from the record's edges).

    Returns
    -------
    mask : ndarray of bool, shape (n_times,)
        True inside an epoch.
    epochs : ndarray of int, shape (n_epochs, 2)
        ``[start, stop)`` sample indices of each epoch.
    """
    s = np.asarray(stat, float)
    above = np.nan_to_num(s, nan=-np.inf) > threshold
    if valid is not None:
        above &= np.asarray(valid, bool)
    edges = np.diff(above.astype(np.int8), prepend=0, append=0)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (stops - starts) >= max(1, int(min_samples))
    starts, stops = starts[keep], stops[keep]
    mask = np.zeros(len(s), bool)
    for a, b in zip(starts, stops):
        mask[a:b] = True
    return mask, np.column_stack([starts, stops]).astype(int)
