"""A slow, plain reference of the memory curve's ridge decoder, for tests to compare with.

Written the obvious way with scikit-learn, lag by lag and penalty by penalty: per fold a
``StandardScaler`` fitted on the training rows, for every lag and every penalty a
``Ridge`` fit on the lag's targets (one-hot codes of its classes for tokens) and its GCV
``n RSS / (n - 1 - tr H)^2`` with the hat matrix's trace from the singular values of the
standardised design, the penalty of least GCV (summed over a lag's classes), and the
prediction of ``RidgeClassifier`` (tokens) or ``Ridge`` (values) at that penalty. Nothing
is shared between lags or penalties.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.preprocessing import StandardScaler


def reference_fold(xtr, ytr, xte, kind, alphas):
    """Predictions (n_te, n_lags) and chosen penalties (n_lags,) of one fold."""
    scaler = StandardScaler().fit(xtr)
    xs, xt = scaler.transform(xtr), scaler.transform(xte)
    n = xs.shape[0]
    s = np.linalg.svd(xs - xs.mean(axis=0), compute_uv=False)
    pred = np.empty((xte.shape[0], ytr.shape[1]), dtype=ytr.dtype if kind == "tokens" else float)
    chosen = np.empty(ytr.shape[1])
    for lag in range(ytr.shape[1]):
        y = ytr[:, lag]
        if kind == "tokens":
            target = (y[:, None] == np.arange(int(ytr.max()) + 1)[None, :]).astype(float)
        else:
            target = y
        gcv = []
        for a in alphas:
            fit = Ridge(alpha=a).fit(xs, target)
            rss = np.sum((target - fit.predict(xs)) ** 2)
            df = np.sum(s**2 / (s**2 + a))
            gcv.append(n * rss / (n - 1 - df) ** 2 if n - 1 - df > 0 else np.inf)
        a = alphas[int(np.argmin(gcv))]
        chosen[lag] = a
        if kind == "tokens":
            if np.unique(y).size == 1:
                pred[:, lag] = y[0]
            else:
                pred[:, lag] = RidgeClassifier(alpha=a).fit(xs, y).predict(xt)
        else:
            pred[:, lag] = Ridge(alpha=a).fit(xs, y).predict(xt)
    return pred, chosen


def reference_scores(x, y, splits, kind, alphas):
    """Pooled held-out accuracy or R^2 of every lag, and the penalties of every fold.

    ``x``: (n, p) snapshot rows; ``y``: (n, n_lags) class indices or values of every row
    and lag; ``splits``: (train, test) index pairs that cover every row once as test.
    """
    pred = np.empty(y.shape, dtype=y.dtype if kind == "tokens" else float)
    chosen = []
    for train, test in splits:
        p, a = reference_fold(x[train], y[train], x[test], kind, alphas)
        pred[test] = p
        chosen.append(a)
    if kind == "tokens":
        score = np.mean(pred == y, axis=0)
    else:
        score = 1 - np.sum((y - pred) ** 2, axis=0) / np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    return score, np.stack(chosen), pred
