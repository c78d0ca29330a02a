"""Memory curves: how much of its recent input a state holds, lag by lag.

A traveling wave can hold recent input history as a spatial pattern (Muller, Churchland &
Sejnowski 2024; Keller 2024): a shift register of N sites holds exactly the last N inputs.
The memory curve measures that directly. From the state at snapshot time ``t`` (a model's
hidden state, or the sites of a recording) a cross-validated linear decoder reads out the
input presented ``tau`` steps earlier, for every lag ``tau = 0 .. max_lag``; the curve is
the held-out accuracy (tokens) or R^2 (real values) against ``tau``.

Design
------
- **Shared snapshots.** Every lag is decoded from the same snapshot times
  ``t in [max_lag, n_steps)``, so the feature matrix ``X`` (one row per sequence and
  snapshot time) is the same for every lag and lags are compared on the same samples.
- **Held-out sequences.** Folds are those of :class:`sklearn.model_selection.GroupKFold`
  (:func:`group_kfold`, without importing scikit-learn) over sequences: a held-out
  sequence is never seen in training. Features are standardised with the mean and SD of
  the training fold only.
- **One ridge solve per fold for all lags.** Because ``X`` is shared, one
  eigendecomposition of the Gram matrix of the standardised training features serves
  every lag and every penalty. Tokens: multi-output ridge regression
  on the one-hot codes of all lags at once, the prediction of each lag being the class
  with the largest output (a ridge classifier, identical to
  :class:`sklearn.linear_model.RidgeClassifier` at the same penalty). Real values:
  multi-output ridge regression. The penalty is chosen per lag inside the training fold
  by generalised cross-validation (GCV; Golub, Heath & Wahba 1979) over a log grid
  (:data:`ALPHAS`), computed from that SVD for every penalty and lag at once; for tokens
  the GCV error is summed over the classes of a lag (one penalty per lag, as
  :class:`~sklearn.linear_model.RidgeClassifierCV`). GCV treats the training rows as
  exchangeable; rows of one sequence are not, so the penalty may come out somewhat small,
  which can only lower the held-out score (the scores themselves are honest: they come
  from held-out sequences only).
- **Fast default, exact reference** (``exact=False``, the default). Model states are
  often rank-deficient (CPU-scale v-Wave Mamba: rank 2512 of 4096 features over 9600
  snapshots), and the folds share most of their rows. So the fast decoder standardises
  the features once with the mean and SD of *all* rows (each fold is still centred on its
  own training mean), reduces them to the span of the rows (pivoted Cholesky of the one
  global Gram matrix, :class:`~wavescope.waves.memory_ridge.RankBasis`), and per fold
  takes the training Gram matrix and cross-products as those of all rows less the test
  rows', eigendecomposed (``r x r``, float64). The SD over all rows uses the test
  rows' features (never their targets). ``exact=True`` is the reference: scikit-learn's
  per-fold standardisation and one float64 ``p x p`` eigendecomposition per fold. States
  of nearly full rank (rank above 85 % of the features) and wide folds take the exact
  path anyway (``meta["exact"]``; ``meta["rank"]`` is the fast path's ``r``). Against
  the reference (issue 21's tolerance: the same horizon and every lag within 0.005):
  demo-trained (300 steps) and random v-Wave Mamba states at the probe's defaults give
  identical curves (every lag decoded perfectly by both); random Mamba states (2048
  features) have full rank and take the exact path; tiny random v-Wave and v-Wave Mamba
  layers (1320 snapshots) and low-rank delay lines move a lag by at most 0.0045, from
  the SD over all rows against the training fold's (``tests/waves/test_memory_reduced.py``,
  ``tests/models/test_memory_probe.py``).
- **Memory.** The states are never copied whole or cast to float64: the decoder reads the
  snapshot rows of the caller's array (float32 stays float32), or of a
  :class:`~wavescope.waves.memory_ridge.StateFile` (states in a temporary file, as the
  model probe keeps large captures), in float64 chunks
  (:mod:`wavescope.waves.memory_ridge`). The exact path builds each fold's Gram matrix in
  place and overwrites it with its eigendecomposition (about two ``p x p`` float64
  matrices); the fast path holds one ``p x p`` float64 Gram matrix while it pivots (then
  shrinks the factor in place), then keeps the ``r x r`` array of the all-rows Gram
  matrix and the lift, a copy of the Gram matrix's triangle and the target
  cross-products; each fold adds its eigenvectors and one targets x ``r`` array (the
  fold's Gram matrix is decomposed in place in the shared array, the test rows'
  coordinates are never all held). At the probe's defaults (p = 4096, r = 2479) the
  decoder's arrays peak about 0.2 GB above the process floor (0.26 GB: Python, torch,
  scipy); with the states (and the fast path's cross-products and Gram triangle copy)
  in temporary files the probe peaks at 0.45-0.46 GB (0.74 GB before).
  No scikit-learn import on the ridge path (about 90 MB of resident set).
- **Logistic decoder** (``decoder="logistic"``, tokens only): one multinomial
  :class:`~sklearn.linear_model.LogisticRegression` per lag and fold (L2 penalty with
  fixed ``C = logistic_C`` on standardised features); slower.
- **Scores.** Out-of-fold predictions for every sample; the score of a lag pools all
  held-out samples: accuracy, or ``R^2 = 1 - SS_res / SS_tot`` (``SS_tot`` about the
  pooled mean of the held-out targets). Standard error and 95 % interval by bootstrap over
  sequences (the independent units), resampling whole sequences' sums.
- **Chance and criterion.** ``r2``: chance is 0. ``accuracy``: chance is the held-out
  accuracy of always guessing the most frequent class of the training fold (a
  cross-validated :class:`~sklearn.dummy.DummyClassifier` with
  ``strategy="most_frequent"``), pooled over folds and lags: ``max_k p_k`` for unbalanced
  classes and ``1/V`` in expectation for uniform tokens. A decoder that has learned
  nothing but the class frequencies predicts the majority class, so a lower chance level
  (e.g. ``sum_k p_k^2``) would count it as memory whenever the classes are unbalanced;
  the majority rate of the held-out targets themselves would be biased up by sampling
  noise (0.053 instead of 1/26 = 0.038 for 880 uniform letters).
- **Which lags hold memory.** Two conditions, both required (``above``):
  significance, ``score > criterion = chance + criterion_se * se`` (``significant``),
  and an effect size, ``score >= effect_floor = chance + effect_fraction * (best score -
  chance)``: the lag keeps at least ``effect_fraction`` (default 0.1) of the best lag's
  normalised score. Significance alone is not enough with many held-out samples: a
  selective SSM whose slowest channels decay over tens of steps leaves a real but tiny
  trace (measured on a demo-trained Mamba, 60 sequences: accuracy 0.06-0.07 against
  chance 0.041 at lags 12-17, normalised 0.02-0.03, each 3-4 SE above chance), and the
  significance-only horizon ran to 18 steps where the curve had fallen to a fifth of its
  lag-0 value by lag 5 and under a tenth by lag 8. The effect floor is relative, so it
  keeps its meaning for weak states (a lag-0 score of 0.1 above chance asks 0.01 of later
  lags) and does not move a shift register's horizon (its held lags score 1, the rest
  chance). ``threshold = max(criterion, effect_floor)`` is the line to draw.
- **Horizon** (steps of input history held): ``(largest tau such that every lag
  0 .. tau holds memory) + 1``, 0 if lag 0 fails. An N-site shift register holds
  ``tau = 0 .. N-1`` exactly and nothing after, so its horizon is N. When every lag up to
  ``max_lag`` is above, the horizon is ``max_lag + 1`` and only a lower bound
  (``meta["horizon_censored"]``). ``meta["horizon_significance_only"]`` is the horizon of
  the significance test alone.
- **Capacity** (steps): the sum over lags of the normalised score clipped at 0:
  ``max(R^2, 0)`` or ``max((acc - chance) / (1 - chance), 0)``; for real values this is
  the short-term memory capacity of Jaeger (2001) summed up to ``max_lag``.

:func:`memory_curve` takes batches of sequences; :func:`memory_curve_field` takes a
:class:`~wavescope.core.field.WaveField` (a single long recording split into contiguous
time blocks, or a list of fields, one sequence each) with its input sequence.

References
----------
Jaeger H (2001). Short term memory in echo state networks. GMD Report 152, German
National Research Center for Information Technology.
Golub GH, Heath M, Wahba G (1979). Generalized cross-validation as a method for choosing a
good ridge parameter. Technometrics 21, 215-223.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_option, check_positive
from wavescope.waves.memory_ridge import RowSource, StateFile

__all__ = [
    "ALPHAS",
    "CI_LEVEL",
    "DECODERS",
    "EFFECT_FRACTION",
    "MAX_TOKENS",
    "MemoryCurve",
    "as_inputs",
    "memory_curve",
    "memory_curve_field",
]

#: Decoders: ``"auto"`` is ``"ridge"`` (ridge classifier for tokens, ridge regression for
#: real values); ``"logistic"`` is multinomial logistic regression (tokens only).
DECODERS = ("auto", "ridge", "logistic")
#: Ridge penalties searched by GCV, on standardised features (unit variance per feature).
ALPHAS = np.logspace(-3, 5, 17)
#: Most distinct values an integer-valued input may take to be read as tokens (see
#: :func:`as_inputs`).
MAX_TOKENS = 64
#: Level of the bootstrap interval of every lag's score.
CI_LEVEL = 0.95
#: Default effect size of the memory criterion: a lag holds memory only if it keeps at
#: least this fraction of the best lag's score above chance (see :func:`memory_curve`).
EFFECT_FRACTION = 0.1


@dataclass
class MemoryCurve:
    """A memory curve: held-out decoding score of the input ``tau`` steps back, per lag.

    Attributes
    ----------
    lags : ndarray of int, shape (n_lags,)
        Lags ``tau = 0 .. max_lag`` in samples (steps).
    score : ndarray, shape (n_lags,)
        Held-out accuracy (``metric="accuracy"``, a fraction in [0, 1]) or R^2
        (``metric="r2"``, at most 1, negative when worse than the mean).
    ci_low, ci_high : ndarray, shape (n_lags,)
        95 % bootstrap interval of ``score`` (resampling held-out sequences or blocks).
    se : ndarray, shape (n_lags,)
        Bootstrap standard error of ``score``.
    chance : float
        Score without memory: the held-out accuracy of guessing the training fold's
        majority class (accuracy), or 0 (R^2).
    criterion : ndarray, shape (n_lags,)
        The significance line ``chance + criterion_se * se``.
    above : ndarray of bool, shape (n_lags,)
        The lags that hold memory: ``significant`` and ``score >= effect_floor``, i.e.
        ``score > threshold``.
    horizon : int
        Steps of input history held: ``(largest tau with every lag 0..tau above) + 1``;
        0 if lag 0 fails. N for an N-site shift register.
    capacity : float
        Sum over lags of the normalised score clipped at 0, in steps.
    metric : {"accuracy", "r2"}
    decoder : {"ridge", "logistic"}
    dt : float
        One lag in ``time_unit`` (``1 / fs``).
    time_unit : str
    n_sequences : int
        Independent units of the cross-validation (sequences, fields or time blocks).
    n_splits : int
        Cross-validation folds.
    meta : dict
        JSON-ready details (number of samples and features, classes, penalties chosen,
        ``horizon_censored``, ``horizon_significance_only`` (the horizon the significance
        test alone gives), how groups were formed, ...).
    significant : ndarray of bool, shape (n_lags,)
        ``score > criterion`` (significance alone).
    effect_fraction : float
        The effect size asked of a lag: a fraction of the best lag's score above chance.
    effect_floor : float
        ``chance + effect_fraction * max(max_tau score - chance, 0)``, in score units.
    threshold : ndarray, shape (n_lags,)
        ``max(criterion, effect_floor)``: the line a lag's score must exceed to hold
        memory (the line a figure draws).
    """

    lags: np.ndarray
    score: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    se: np.ndarray
    chance: float
    criterion: np.ndarray
    above: np.ndarray
    horizon: int
    capacity: float
    metric: str
    decoder: str
    dt: float
    time_unit: str
    n_sequences: int
    n_splits: int
    meta: dict = field(default_factory=dict)
    significant: np.ndarray | None = None
    effect_fraction: float = 0.0
    effect_floor: float | None = None
    threshold: np.ndarray | None = None

    def __post_init__(self):
        # curves built without the effect criterion: significance alone
        if self.significant is None:
            self.significant = np.asarray(self.above, bool)
        if self.effect_floor is None:
            self.effect_floor = float(self.chance)
        if self.threshold is None:
            self.threshold = np.maximum(np.asarray(self.criterion, float), self.effect_floor)

    @property
    def reach(self) -> int:
        """Last lag above the criterion, plus 1 (0 if none): the horizon with gaps allowed.

        It exposes memory that the contiguous :attr:`horizon` misses: states that hold
        letters at fixed offsets but not the most recent ones (a RoPE transformer's
        residual stream, a v-Wave ring at v = 1/4 whose newest inputs blur together). It
        is sensitive to isolated false positives (about 0.1 % per lag at 3 SE), so read it
        next to the curve.
        """
        idx = np.flatnonzero(self.above)
        return int(idx[-1] + 1) if idx.size else 0

    @property
    def horizon_time(self) -> float:
        """The horizon in ``time_unit`` (``horizon * dt``)."""
        return float(self.horizon * self.dt)

    @property
    def horizon_significance_only(self) -> int:
        """The horizon the significance test alone gives (the definition before the
        effect size was added): lags from 0 whose score exceeds ``criterion``."""
        sig = np.asarray(self.significant, bool)
        return int(np.argmin(sig)) if not sig.all() else int(sig.size)

    def summary(self) -> dict:
        """JSON-ready dict: every attribute (arrays as lists) plus ``horizon_time``,
        ``reach`` and ``horizon_significance_only``. A figure draws ``threshold`` (the
        per-lag line a score must exceed), ``criterion`` (its significance part),
        ``effect_floor`` and marks ``horizon``."""
        out = {}
        for k, v in asdict(self).items():
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        out["horizon_time"] = self.horizon_time
        out["reach"] = self.reach
        out["horizon_significance_only"] = self.horizon_significance_only
        return out


# ---------------------------------------------------------------------- input checks


def _check_int(name, value, lo: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise WaveInputError(f"{name} must be an integer >= {lo}, got {value!r}.")
    value = int(value)
    if value < lo:
        raise WaveInputError(f"{name} must be an integer >= {lo}, got {value}.")
    return value


def _check_states(states) -> np.ndarray:
    if isinstance(states, StateFile):  # checked finite as it was written
        return states
    try:
        x = np.asarray(states)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise WaveInputError(f"states could not be converted to an array: {exc}") from None
    if x.dtype.kind not in "fiub":
        raise WaveInputError(f"states must be numeric, got dtype {x.dtype}.")
    if x.ndim != 3:
        raise WaveInputError(
            f"states must have shape (n_sequences, n_steps, n_features), got {x.shape}; "
            "for one sequence add a leading axis (states[None]) and use several sequences, "
            "or use memory_curve_field for one long recording."
        )
    if x.dtype not in (np.float32, np.float64):  # float32 states stay float32 (no copy)
        x = x.astype(np.float64)
    step = max(1, int(2**24 // max(x[0].size, 1)))  # finiteness checked a few MB at a time
    for i in range(0, x.shape[0], step):
        if not np.all(np.isfinite(x[i : i + step])):
            finite = np.isfinite(x)
            bad = np.argwhere(~finite)[0]
            raise WaveInputError(
                f"states hold {int((~finite).sum())} NaN or infinite values (first at "
                f"sequence {bad[0]}, step {bad[1]}, feature {bad[2]}); drop or repair those "
                "features or sequences first (e.g. mark the sites bad)."
            )
    return x


def _check_inputs(inputs, shape, decoder: str):
    """Inputs as ``(values, kind)``: ``kind`` is ``"tokens"`` (integer) or ``"values"``."""
    try:
        u = np.asarray(inputs)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise WaveInputError(f"inputs could not be converted to an array: {exc}") from None
    if u.dtype.kind not in "fiub":
        raise WaveInputError(
            f"inputs must be integer tokens or real values, got dtype {u.dtype}; map symbols "
            "to integer token ids first."
        )
    if u.shape != tuple(shape):
        raise WaveInputError(
            f"inputs have shape {u.shape} but the states hold {shape[0]} sequence(s) of "
            f"{shape[1]} steps: give one input per sequence and step, shape {tuple(shape)} "
            "(the input presented at step t is inputs[s, t])."
        )
    kind = "tokens" if u.dtype.kind in "iub" else "values"
    if kind == "values":
        if not np.all(np.isfinite(u)):
            raise WaveInputError(
                f"inputs hold {int((~np.isfinite(u)).sum())} NaN or infinite values; "
                "repair or crop them."
            )
        u = u.astype(np.float64)
        if decoder == "logistic":
            raise WaveInputError(
                "decoder='logistic' classifies tokens, but the inputs are real values "
                f"(dtype {u.dtype}); use decoder='ridge' (R^2), or pass integer token ids."
            )
        if not np.ptp(u) > 0:
            raise WaveInputError(
                "inputs are constant (zero variance): there is nothing to decode; give a "
                "varying input sequence."
            )
    else:
        u = u.astype(np.int64)
        if np.unique(u).size < 2:
            raise WaveInputError(
                f"inputs are constant (one token, {int(u.flat[0])}): there is nothing to "
                "decode; give a sequence with at least two different tokens."
            )
    return u, kind


def _check_lag(max_lag, n_steps: int) -> int:
    max_lag = _check_int("max_lag", max_lag, 0)
    if max_lag >= n_steps:
        raise WaveInputError(
            f"max_lag={max_lag} leaves no snapshot: the sequences have {n_steps} steps and "
            f"snapshots start at step max_lag; use max_lag <= {max(n_steps - 2, 0)} or "
            "longer sequences."
        )
    if n_steps - max_lag < 2:
        raise WaveInputError(
            f"max_lag={max_lag} leaves {n_steps - max_lag} snapshot step(s) per sequence "
            f"(steps {max_lag}..{n_steps - 1}); at least 2 are needed: use max_lag <= "
            f"{n_steps - 2} or longer sequences."
        )
    return max_lag


def as_inputs(values, kind: str = "auto", max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """An input sequence as tokens (int64) or real values (float64), for files and channels.

    Parameters
    ----------
    values : array_like
        The input at every sample (any shape), e.g. a stimulus channel of a recording.
    kind : {"auto", "tokens", "values"}
        ``"auto"``: tokens when every value is finite and integer-valued and there are at
        most ``max_tokens`` distinct values (a stimulus code, a token id, an on/off
        trigger); real values otherwise (an analogue stimulus, a continuous input).
    max_tokens : int
        Most distinct values read as tokens under ``"auto"``.

    Returns
    -------
    ndarray
        int64 (tokens: decoded by classification, scored by accuracy) or float64 (real
        values: regression, R^2).
    """
    check_option("kind", kind, ("auto", "tokens", "values"))
    v = np.asarray(values)
    if v.dtype.kind not in "fiub":
        raise WaveInputError(f"inputs must be numeric, got dtype {v.dtype}.")
    vf = v.astype(np.float64)
    integral = bool(np.all(np.isfinite(vf)) and np.all(vf == np.round(vf)))
    if kind == "auto":
        kind = "tokens" if integral and np.unique(vf).size <= max_tokens else "values"
    if kind == "tokens":
        if not integral:
            raise WaveInputError(
                "inputs read as tokens must be finite integers; these hold fractional or "
                "non-finite values: read them as real values instead."
            )
        return vf.astype(np.int64)
    return vf


# ---------------------------------------------------------------------- design matrices


def _lagged(u: np.ndarray, max_lag: int) -> np.ndarray:
    """Targets ``u[s, t - tau]`` for ``t in [max_lag, n_steps)``: shape (n_seq * n_t, n_lags)."""
    n_steps = u.shape[1]
    cols = [u[:, max_lag - tau : n_steps - tau].reshape(-1) for tau in range(max_lag + 1)]
    return np.stack(cols, axis=1)


def group_kfold(groups: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` row indices of :class:`sklearn.model_selection.GroupKFold` (no
    shuffle): the same folds, without importing scikit-learn (about 90 MB and 1 s for a
    probe that needs nothing else from it). Groups go, largest first (ties in reverse
    order of their sorted labels, as a stable descending sort gives), to the fold with
    the fewest rows so far (the first such fold on ties)."""
    labels, idx = np.unique(np.asarray(groups), return_inverse=True)
    sizes = np.bincount(idx.reshape(-1))
    order = np.argsort(sizes, kind="stable")[::-1]
    load = np.zeros(n_splits)
    fold_of = np.zeros(labels.size, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        load[f] += sizes[g]
        fold_of[g] = f
    fold = fold_of[idx.reshape(-1)]
    rows = np.arange(fold.size)
    return [(rows[fold != f], rows[fold == f]) for f in range(n_splits)]


def _standardise(x_train, x_test):
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd[~(sd > 1e-12 * (np.abs(mu) + 1))] = 1.0  # constant features: centred to 0
    return (x_train - mu) / sd, (x_test - mu) / sd


def _ridge_fold(xtr, ytr, xte, kind: str, n_classes: int, alphas: np.ndarray):
    """Ridge decoder of every lag on one fold, from arrays (see :mod:`.memory_ridge`).

    Parameters
    ----------
    xtr : (n_tr, p) training features; ytr : (n_tr, n_lags) class indices or values;
    xte : (n_te, p) test features.

    Returns
    -------
    pred : (n_te, n_lags) predicted class index (tokens) or value.
    alpha : (n_lags,) the penalty GCV chose per lag.
    """
    from wavescope.waves.memory_ridge import RowSource, ridge_fold

    xtr, xte = np.asarray(xtr, float), np.asarray(xte, float)
    n_tr, n_te = xtr.shape[0], xte.shape[0]
    src = RowSource.from_matrix(np.concatenate([xtr, xte]))
    y = np.concatenate([np.asarray(ytr), np.zeros((n_te, ytr.shape[1]), ytr.dtype)])
    return ridge_fold(
        src, np.arange(n_tr), np.arange(n_tr, n_tr + n_te), y, kind, n_classes,
        np.asarray(alphas, float),
    )  # fmt: skip


def _logistic_fold(xtr, ytr, xte, c: float):
    from contextlib import nullcontext

    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    xs, xt = _standardise(xtr, xte)
    pred = np.empty((xt.shape[0], ytr.shape[1]), dtype=np.int64)
    # L-BFGS on a small design is matrix-vector work: BLAS threads only add overhead (30x
    # slower measured on a busy 2-core machine), so small problems run single-threaded
    small = xs.size <= 2_000_000
    with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
        for lag in range(ytr.shape[1]):
            y = ytr[:, lag]
            present = np.unique(y)
            if present.size == 1:  # one class in training: it is the only guess
                pred[:, lag] = present[0]
                continue
            clf = LogisticRegression(C=c, max_iter=1000)
            pred[:, lag] = clf.fit(xs, y).predict(xt)
    return pred


def _group_sums(groups: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Per-group sums of the rows of ``values``: (n_groups, n_cols)."""
    from scipy import sparse

    ind = sparse.csr_matrix(
        (np.ones(groups.size), (groups, np.arange(groups.size))), shape=(n_groups, groups.size)
    )
    return np.asarray(ind @ values)


def _scores(sums: np.ndarray, kind: str) -> np.ndarray:
    """Scores from (..., 4, n_lags) sums: tokens (correct, n, -, -); values (ssres, n, sy, syy)."""
    if kind == "tokens":
        return sums[..., 0, :] / sums[..., 1, :]
    ssres, n, sy, syy = (sums[..., i, :] for i in range(4))
    sstot = syy - sy**2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - ssres / sstot


def _evaluate(
    x,
    y,
    groups,
    splits,
    *,
    kind,
    n_classes,
    decoder,
    crit,
    n_boot,
    seed,
    fs,
    time_unit,
    alphas,
    logistic_c,
    meta,
    exact=False,
):
    """Cross-validated decoding of every lag, scores, bootstrap, horizon and capacity.

    ``x`` is a :class:`~wavescope.waves.memory_ridge.RowSource` over the snapshot rows.
    """
    from wavescope.waves.memory_ridge import (
        ArrayFile,
        FileRowSource,
        RowSource,
        basis_cross,
        blas_threads,
        release_freed_memory,
        ridge_fold,
        ridge_fold_basis,
    )

    src = x if isinstance(x, RowSource) else RowSource.from_matrix(x)
    threads = blas_threads()
    basis = None
    if decoder != "logistic" and not exact:
        basis = _rank_basis(src, splits, threads)
        release_freed_memory()
    if basis is not None:
        cross_all = basis_cross(src, basis, y, kind, n_classes)
        if isinstance(src, FileRowSource):  # short of memory: kept in a file too
            cross_all = ArrayFile(cross_all)
        release_freed_memory()

    n, n_lags = y.shape
    pred = np.empty(y.shape, dtype=y.dtype)
    seen = np.zeros(n, bool)
    chosen = []
    dummy_hits = 0.0  # tokens: held-out hits of guessing the training fold's majority class
    for train, test in splits:
        if kind == "tokens":
            counts = np.apply_along_axis(np.bincount, 0, y[train], minlength=n_classes)
            dummy_hits += float(np.sum(y[test] == np.argmax(counts, axis=0)[None, :]))
        if decoder == "logistic":
            pred[test] = _logistic_fold(src.rows(train), y[train], src.rows(test), logistic_c)
        elif basis is not None:
            p, a = ridge_fold_basis(
                src, basis, cross_all, np.sort(train), np.sort(test), y, kind, n_classes,
                alphas, threads=threads,
            )  # fmt: skip
        else:
            p, a = ridge_fold(
                src, np.sort(train), np.sort(test), y, kind, n_classes, alphas, threads=threads
            )
        if decoder != "logistic":
            pred[np.sort(test)] = p
            chosen.append(a)
        seen[test] = True
        release_freed_memory()
    if not seen.all():  # pragma: no cover - every split scheme here covers all rows
        raise RuntimeError("cross-validation left samples without a prediction")

    n_groups = int(groups.max()) + 1
    ones = np.ones((n, n_lags))
    if kind == "tokens":
        per = np.stack(
            [_group_sums(groups, n_groups, (pred == y).astype(float)),
             _group_sums(groups, n_groups, ones),
             np.zeros((n_groups, n_lags)), np.zeros((n_groups, n_lags))],
            axis=1,
        )  # fmt: skip
        chance = dummy_hits / y.size
    else:
        per = np.stack(
            [_group_sums(groups, n_groups, (y - pred) ** 2),
             _group_sums(groups, n_groups, ones),
             _group_sums(groups, n_groups, y),
             _group_sums(groups, n_groups, y**2)],
            axis=1,
        )  # fmt: skip
        chance = 0.0
        sstot = per[:, 3].sum(0) - per[:, 2].sum(0) ** 2 / n
        flat = np.flatnonzero(~(sstot > 1e-12 * (per[:, 3].sum(0) + 1e-300)))
        if flat.size:
            raise WaveInputError(
                f"the inputs at lag(s) {flat[:5].tolist()} are constant over the snapshot "
                "steps: nothing to decode there; give a varying input sequence or a smaller "
                "max_lag."
            )
    score = _scores(per.sum(axis=0), kind)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n_groups, size=(n_boot, n_groups))
    weight = np.bincount(
        (draw + n_groups * np.arange(n_boot)[:, None]).reshape(-1), minlength=n_boot * n_groups
    ).reshape(n_boot, n_groups)
    boot = _scores(np.einsum("bg,gkl->bkl", weight.astype(float), per), kind)
    se = np.nanstd(boot, axis=0, ddof=1) if n_boot > 1 else np.zeros(n_lags)
    tail = 100 * (1 - CI_LEVEL) / 2
    ci_low, ci_high = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
    criterion_se, effect_fraction = crit
    criterion = chance + criterion_se * se
    significant = score > criterion
    # effect size: a lag holds memory only if it keeps at least effect_fraction of the
    # best lag's score above chance (see the module docstring, "Chance and criterion")
    effect_floor = chance + effect_fraction * max(float(np.max(score)) - chance, 0.0)
    threshold = np.maximum(criterion, effect_floor)
    above = significant & (score >= effect_floor)
    horizon = _contiguous(above)
    if kind == "tokens":
        norm = (score - chance) / (1.0 - chance)
    else:
        norm = score
    capacity = float(np.sum(np.clip(norm, 0.0, None)))
    meta = dict(meta)
    meta.update(
        input_kind=kind,
        n_samples=int(n),
        n_features=int(src.p),
        max_lag=int(n_lags - 1),
        criterion_se=float(criterion_se),
        effect_fraction=float(effect_fraction),
        horizon_significance_only=_contiguous(significant),
        n_boot=int(n_boot),
        seed=seed if isinstance(seed, int) else None,
        horizon_censored=bool(above.all()),
    )
    if kind == "tokens":
        meta["n_classes"] = int(n_classes)
        freq = np.bincount(y.reshape(-1), minlength=n_classes) / y.size
        meta["class_frequencies"] = freq.tolist()
    if decoder == "logistic":
        meta["logistic_C"] = float(logistic_c)
    else:
        meta["alpha_grid"] = [float(a) for a in (alphas.min(), alphas.max())]
        meta["alpha_median"] = np.median(np.stack(chosen), axis=0).tolist()
        # which decoder path ran: the exact per-fold one, or the shared rank-r basis
        meta["exact"] = basis is None
        meta["rank"] = None if basis is None else int(basis.rank)
    return MemoryCurve(
        lags=np.arange(n_lags),
        score=score,
        ci_low=ci_low,
        ci_high=ci_high,
        se=se,
        chance=chance,
        criterion=criterion,
        above=above,
        horizon=horizon,
        capacity=capacity,
        metric="accuracy" if kind == "tokens" else "r2",
        decoder="logistic" if decoder == "logistic" else "ridge",
        dt=1.0 / fs,
        time_unit=str(time_unit),
        n_sequences=n_groups,
        n_splits=len(splits),
        meta=meta,
        significant=significant,
        effect_fraction=float(effect_fraction),
        effect_floor=float(effect_floor),
        threshold=threshold,
    )


def _rank_basis(src, splits, threads):
    """The shared :class:`~wavescope.waves.memory_ridge.RankBasis` of the fast path, or
    None where it would not pay: wide folds (their ``n x n`` problems are already small)
    or states of nearly full rank."""
    from wavescope.waves.memory_ridge import MAX_RANK_FRACTION, RankBasis, _limit

    if min(len(train) for train, _ in splits) < src.p:
        return None
    with _limit(threads):
        basis = RankBasis(src, np.arange(src.n))
    return basis if 0 < basis.rank <= MAX_RANK_FRACTION * src.p else None


def _contiguous(flags: np.ndarray) -> int:
    """Number of leading True values (all of them when every one is True)."""
    return int(np.argmin(flags)) if not flags.all() else int(flags.size)


def _common(decoder, n_splits, criterion_se, n_boot, fs, alphas, logistic_c, effect_fraction):
    check_option("decoder", decoder, DECODERS)
    n_splits = _check_int("n_splits", n_splits, 2)
    if not (np.isfinite(criterion_se) and criterion_se >= 0):
        raise WaveInputError(f"criterion_se must be a number >= 0, got {criterion_se!r}.")
    n_boot = _check_int("n_boot", n_boot, 2)
    fs = check_positive("fs", fs)
    alphas = ALPHAS if alphas is None else np.atleast_1d(np.asarray(alphas, float))
    if alphas.ndim != 1 or alphas.size < 1 or not np.all(np.isfinite(alphas) & (alphas > 0)):
        raise WaveInputError(f"alphas must be positive finite penalties, got {alphas!r}.")
    logistic_c = check_positive("logistic_C", logistic_c)
    if not (np.isfinite(effect_fraction) and 0 <= effect_fraction < 1):
        raise WaveInputError(
            f"effect_fraction must be a number in [0, 1), got {effect_fraction!r} (0 keeps "
            "only the significance test; 0.1 asks a lag for a tenth of the best lag's score "
            "above chance)."
        )
    crit = (float(criterion_se), float(effect_fraction))
    return n_splits, crit, n_boot, fs, alphas, logistic_c


# ---------------------------------------------------------------------- public API


def memory_curve(
    states,
    inputs,
    max_lag: int,
    *,
    decoder: str = "auto",
    n_splits: int = 5,
    criterion_se: float = 3.0,
    n_boot: int = 1000,
    seed: int = 0,
    fs: float = 1.0,
    time_unit: str = "step",
    alphas=None,
    logistic_C: float = 1.0,
    effect_fraction: float = EFFECT_FRACTION,
    states_start: int = 0,
    exact: bool = False,
) -> MemoryCurve:
    """Memory curve of a batch of state sequences: decode the input ``tau`` steps back.

    For every sequence ``s``, snapshot time ``t in [max_lag, n_steps)`` and lag
    ``tau = 0 .. max_lag``, a linear decoder reads ``inputs[s, t - tau]`` from
    ``states[s, t, :]``; it is trained on some sequences and scored on the others
    (grouped K-fold over sequences). See the module docstring for the design.

    Parameters
    ----------
    states : array_like or StateFile, shape (n_sequences, n_steps, n_features)
        The state after step ``t`` has been read in (e.g. a hidden state captured at
        every step), finite; or a :class:`~wavescope.waves.memory_ridge.StateFile` (the
        states in a temporary file, read a chunk of rows at a time: same curve).
    inputs : array_like, shape (n_sequences, n_steps)
        The input presented at each step. Integer dtype: tokens (classification, score =
        accuracy); floating dtype: real values (regression, score = R^2).
    max_lag : int
        Largest lag ``T`` in steps; lags ``0 .. T`` are decoded. Snapshots start at step
        ``T``, so ``n_steps - T >= 2`` is needed.
    decoder : {"auto", "ridge", "logistic"}
        ``"auto"`` = ``"ridge"``: ridge classifier (tokens) or ridge regression (values),
        penalty by GCV per lag inside each training fold. ``"logistic"``: multinomial
        logistic regression per lag (tokens only; slower).
    n_splits : int
        Number of folds (at least 2, at most ``n_sequences``).
    criterion_se : float
        Significance: a lag holds memory only if its score exceeds
        ``chance + criterion_se * se``.
    n_boot : int
        Bootstrap resamples of the sequences for ``se`` and the 95 % interval.
    seed : int
        Seed of the bootstrap (the folds are deterministic).
    fs : float
        Steps per ``time_unit``; one lag lasts ``dt = 1 / fs``.
    time_unit : str
        Unit of ``dt`` (``"step"`` for models).
    alphas : array_like, optional
        Ridge penalties searched (default :data:`ALPHAS`, on standardised features).
    logistic_C : float
        Inverse L2 penalty of the logistic decoder.
    effect_fraction : float
        Effect size, in [0, 1): a lag holds memory only if its score is also at least
        ``chance + effect_fraction * (max_tau score - chance)``, i.e. it keeps that
        fraction of the best lag's normalised score (default :data:`EFFECT_FRACTION`,
        0.1; 0 gives the significance test alone).
    states_start : int
        Step at which ``states[:, 0]`` was taken (default 0). The decoder reads only the
        snapshot steps ``t >= max_lag``, so a caller short of memory may pass only
        ``states[:, max_lag:]`` with ``states_start=max_lag``; then ``states`` has
        ``n_steps - states_start`` steps and ``inputs`` still ``n_steps``.
    exact : bool
        False (default): the fast ridge decoder (features standardised over all rows,
        reduced to the rows' span; see the module
        docstring). True: the exact per-fold float64 reference (scikit-learn's per-fold
        standardisation). The logistic decoder is always exact.

    Returns
    -------
    MemoryCurve

    Raises
    ------
    WaveInputError
        Fewer sequences than ``n_splits``; inputs whose shape does not match the states;
        constant inputs; NaN or infinite states; ``max_lag`` leaving fewer than 2 snapshot
        steps; real-valued inputs with ``decoder="logistic"``.

    Notes
    -----
    A lag holds memory (``above``) when its score is significantly above chance and at
    least ``effect_fraction`` of the best lag's score above chance: ``score > threshold``
    with ``threshold = max(chance + criterion_se * se, effect_floor)``. Horizon:
    ``(largest tau with every lag 0..tau holding memory) + 1``, so an N-site shift
    register (the state at ``t`` holds ``u[t], ..., u[t - N + 1]``) has horizon N, and a
    weak, slowly fading trace after the last well-held lag does not extend it.
    Capacity: ``sum_tau max(R^2(tau), 0)`` or ``sum_tau max((acc - chance) / (1 -
    chance), 0)``, in steps (Jaeger 2001).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u = rng.integers(0, 4, size=(20, 60))                 # 20 sequences of tokens
    >>> onehot = np.eye(4)[u]                                  # (20, 60, 4)
    >>> states = np.concatenate([np.roll(onehot, i, axis=1) for i in range(3)], axis=2)
    >>> memory_curve(states, u, max_lag=6).horizon             # a 3-site shift register
    3
    """
    n_splits, crit, n_boot, fs, alphas, logistic_C = _common(
        decoder, n_splits, criterion_se, n_boot, fs, alphas, logistic_C, effect_fraction
    )
    x = _check_states(states)
    start = _check_int("states_start", states_start, 0)
    n_seq = x.shape[0]
    n_steps = start + x.shape[1]
    u, kind = _check_inputs(inputs, (n_seq, n_steps), decoder)
    max_lag = _check_lag(max_lag, n_steps)
    if start > max_lag:
        raise WaveInputError(
            f"states_start={start} is after max_lag={max_lag}: the snapshots start at step "
            f"max_lag, so states must begin at or before it; use states_start <= {max_lag}."
        )
    if n_seq < n_splits:
        raise WaveInputError(
            f"the states hold {n_seq} sequence(s) but n_splits={n_splits} folds need at least "
            f"{n_splits} held-out sequences: record more sequences or lower n_splits (>= 2); "
            "for one long recording use memory_curve_field (contiguous time blocks)."
        )
    snap = x.source(max_lag - start) if isinstance(x, StateFile) else x[:, max_lag - start :]
    return _from_sequences(
        snap, u, kind, max_lag, decoder, n_splits, crit, n_boot, seed, fs,
        time_unit, alphas, logistic_C, {"groups": "sequences"}, exact=exact,
    )  # fmt: skip


def _classes(u: np.ndarray, kind: str):
    if kind != "tokens":
        return u, 0, None
    classes, idx = np.unique(u, return_inverse=True)
    return idx.reshape(u.shape), classes.size, classes


def _from_sequences(
    snap, u, kind, max_lag, decoder, n_splits, crit, n_boot, seed, fs, time_unit, alphas,
    logistic_c, meta, exact=False,
):  # fmt: skip
    """``snap``: the states at the snapshot steps ``max_lag ..`` (a view, any float)."""
    n_seq, n_steps = u.shape
    ui, n_classes, classes = _classes(u, kind)
    # rows are read in float64 chunks, never copied whole
    xr = snap if isinstance(snap, RowSource) else RowSource(snap)
    y = _lagged(ui, max_lag)
    groups = np.repeat(np.arange(n_seq), n_steps - max_lag)
    splits = group_kfold(groups, n_splits)
    if classes is not None:
        meta = {**meta, "classes": classes.tolist()}
    return _evaluate(
        xr, y, groups, splits, kind=kind, n_classes=n_classes, decoder=decoder,
        crit=crit, n_boot=n_boot, seed=seed, fs=fs, time_unit=time_unit,
        alphas=alphas, logistic_c=logistic_c, meta=meta, exact=exact,
    )  # fmt: skip


def memory_curve_field(
    field: WaveField | list[WaveField], inputs, max_lag: int, *, n_blocks: int = 10, **kw
) -> MemoryCurve:
    """Memory curve of a recording (or model capture) with a known input sequence.

    Parameters
    ----------
    field : WaveField or list of WaveField
        One recording: its time axis is cut into ``n_blocks`` contiguous blocks that play
        the role of sequences (see Notes). A list: one sequence per field; all must share
        ``n_times``, ``n_sites``, ``fs`` and ``time_unit``.
    inputs : array_like
        The input presented at every sample: shape ``(n_times,)`` for one field, one such
        array per field (or an array ``(n_fields, n_times)``) for a list. Integer dtype:
        tokens (accuracy); floating: real values (R^2).
    max_lag : int
        Largest lag in samples; ``dt = 1 / fs`` in ``field.time_unit``.
    n_blocks : int
        Contiguous time blocks of a single recording (ignored for a list).
    **kw
        Passed to :func:`memory_curve` (``decoder``, ``n_splits``, ``criterion_se``,
        ``n_boot``, ``seed``, ``alphas``, ``logistic_C``, ``effect_fraction``); ``fs`` and
        ``time_unit`` come from the field.

    Returns
    -------
    MemoryCurve
        ``n_sequences`` is the number of blocks (one recording) or fields (a list).

    Notes
    -----
    The features are the good sites (those not marked bad in any field); the snapshot
    at sample ``t`` is the vector of their values at ``t``.

    A single recording cannot be split by sequence. The snapshot samples
    ``t in [max_lag, n_times)`` are cut into ``n_blocks`` contiguous blocks, the groups of
    a grouped K-fold, and training samples within ``max_lag`` samples of the edges of a
    test block are purged (left out of that fold's training): their lagged targets
    overlap the test block's, which would leak test inputs into training. States that
    remember longer than ``max_lag`` still correlate across a block edge; the purge
    removes the shared targets, not that correlation. Blocks are also the units of the
    bootstrap.
    """
    for k in ("fs", "time_unit"):
        if k in kw:
            raise WaveInputError(f"{k} comes from the field; do not pass {k}= here.")
    decoder = kw.pop("decoder", "auto")
    n_splits, crit, n_boot, fs_unused, alphas, logistic_c = _common(
        decoder,
        kw.pop("n_splits", 5),
        kw.pop("criterion_se", 3.0),
        kw.pop("n_boot", 1000),
        1.0,
        kw.pop("alphas", None),
        kw.pop("logistic_C", 1.0),
        kw.pop("effect_fraction", EFFECT_FRACTION),
    )
    seed = kw.pop("seed", 0)
    exact = bool(kw.pop("exact", False))
    if kw:
        raise WaveInputError(f"unknown argument(s) {sorted(kw)} for memory_curve_field.")
    if isinstance(field, (list, tuple)):
        return _from_field_list(
            list(field), inputs, max_lag, decoder, n_splits, crit, n_boot, seed,
            alphas, logistic_c, exact,
        )  # fmt: skip
    if not isinstance(field, WaveField):
        raise WaveInputError(
            f"field must be a WaveField or a list of them, got {type(field).__name__}."
        )
    n_blocks = _check_int("n_blocks", n_blocks, 2)
    good = field.good
    if good.size == 0:
        raise WaveInputError("every site of the field is marked bad: no features to decode.")
    u_arr = np.asarray(inputs)
    if u_arr.ndim == 2 and u_arr.shape[0] == 1:
        u_arr = u_arr[0]
    if u_arr.shape != (field.n_times,):
        raise WaveInputError(
            f"inputs have shape {u_arr.shape} but the field has {field.n_times} samples: give "
            f"one input per sample, shape ({field.n_times},)."
        )
    x = _check_states(field.data[good].T[None])
    u, kind = _check_inputs(u_arr[None], x.shape[:2], decoder)
    max_lag = _check_lag(max_lag, field.n_times)
    n_rows = field.n_times - max_lag
    if n_blocks < n_splits:
        raise WaveInputError(
            f"n_blocks={n_blocks} time blocks cannot fill n_splits={n_splits} folds: use "
            f"n_blocks >= n_splits (e.g. n_blocks={2 * n_splits})."
        )
    if n_rows < 2 * n_blocks:
        raise WaveInputError(
            f"{n_rows} snapshot samples cannot be cut into {n_blocks} blocks of at least 2: "
            "use fewer blocks, a smaller max_lag or a longer recording."
        )
    ui, n_classes, classes = _classes(u, kind)
    xr = RowSource(x[:, max_lag:, :])
    y = _lagged(ui, max_lag)
    times = np.arange(max_lag, field.n_times)
    edges = np.linspace(0, n_rows, n_blocks + 1).round().astype(int)
    groups = np.repeat(np.arange(n_blocks), np.diff(edges))
    splits, purged = [], []
    for train, test in group_kfold(groups, n_splits):
        drop = np.zeros(n_rows, bool)
        for b in np.unique(groups[test]):
            t0, t1 = times[edges[b]], times[edges[b + 1] - 1]
            tt = times[train]
            drop[train] |= ((tt >= t0 - max_lag) & (tt < t0)) | ((tt > t1) & (tt <= t1 + max_lag))
        keep = train[~drop[train]]
        if keep.size < 2:
            raise WaveInputError(
                f"after purging {max_lag} samples around the test blocks no training sample is "
                "left: use a smaller max_lag, fewer blocks or a longer recording."
            )
        splits.append((keep, test))
        purged.append(int(train.size - keep.size))
    meta = {
        "groups": "time blocks",
        "n_blocks": n_blocks,
        "purge": max_lag,
        "purged_per_fold": purged,
        "n_sites_used": int(good.size),
        "n_times": int(field.n_times),
    }
    if classes is not None:
        meta["classes"] = classes.tolist()
    return _evaluate(
        xr, y, groups, splits, kind=kind, n_classes=n_classes, decoder=decoder,
        crit=crit, n_boot=n_boot, seed=seed, fs=field.fs,
        time_unit=field.time_unit, alphas=alphas, logistic_c=logistic_c, meta=meta,
        exact=exact,
    )  # fmt: skip


def _from_field_list(
    fields, inputs, max_lag, decoder, n_splits, crit, n_boot, seed, alphas, logistic_c,
    exact=False,
):  # fmt: skip
    if not fields:
        raise WaveInputError("the list of fields is empty.")
    for i, f in enumerate(fields):
        if not isinstance(f, WaveField):
            raise WaveTypeError(f"fields[{i}] is a {type(f).__name__}, not a WaveField.")
    f0 = fields[0]
    for i, f in enumerate(fields[1:], 1):
        if (f.n_times, f.n_sites, f.fs, f.time_unit) != (
            f0.n_times,
            f0.n_sites,
            f0.fs,
            f0.time_unit,
        ):
            raise WaveInputError(
                f"fields[{i}] has {f.n_sites} sites x {f.n_times} samples at fs={f.fs:g}/"
                f"{f.time_unit}, fields[0] {f0.n_sites} x {f0.n_times} at fs={f0.fs:g}/"
                f"{f0.time_unit}: every field of the list is one sequence and they must match "
                "(crop them to a common length)."
            )
    bad = np.any([f.bad for f in fields], axis=0)
    good = np.flatnonzero(~bad)
    if good.size == 0:
        raise WaveInputError("no site is good in every field: no features to decode.")
    try:
        u_arr = np.stack([np.asarray(v) for v in inputs])
    except ValueError:
        raise WaveInputError(
            f"inputs must be one array of {f0.n_times} samples per field, of equal length."
        ) from None
    if u_arr.shape != (len(fields), f0.n_times):
        raise WaveInputError(
            f"inputs have shape {u_arr.shape} for {len(fields)} field(s) of {f0.n_times} samples: "
            f"give one input per field and sample, shape ({len(fields)}, {f0.n_times})."
        )
    x = _check_states(np.stack([f.data[good].T for f in fields]))
    u, kind = _check_inputs(u_arr, x.shape[:2], decoder)
    max_lag = _check_lag(max_lag, f0.n_times)
    if len(fields) < n_splits:
        raise WaveInputError(
            f"{len(fields)} field(s) cannot fill n_splits={n_splits} folds (each field is one "
            "sequence): give more fields, lower n_splits (>= 2), or pass one long field "
            "(cut into time blocks)."
        )
    meta = {"groups": "fields", "n_sites_used": int(good.size), "n_times": int(f0.n_times)}
    return _from_sequences(
        x[:, max_lag:], u, kind, max_lag, decoder, n_splits, crit, n_boot, seed, f0.fs,
        f0.time_unit,
        alphas, logistic_c, meta, exact=exact,
    )  # fmt: skip
