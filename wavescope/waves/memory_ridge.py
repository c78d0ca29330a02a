"""Ridge decoding of every lag of a memory curve, one fold at a time, streamed over rows.

The exact path (:func:`ridge_fold`) and the fast default (:func:`ridge_fold_basis`).

The linear algebra behind :func:`wavescope.waves.memory.memory_curve` (ridge decoder,
penalty by GCV inside the training fold), written so that neither the states nor any
per-fold copy of them is ever held in float64:

- :class:`RowSource` reads rows of the snapshot matrix (a view of the caller's states,
  float32 or float64) in float64 chunks of about :data:`CHUNK_BYTES`.
- Tall folds (``n_train >= p``): the mean and SD of the training rows (two passes, as
  ``numpy.mean`` / ``numpy.std``), then the Gram matrix of the standardised rows
  accumulated in place by BLAS ``syrk`` (one triangle, no temporaries), one symmetric
  eigendecomposition (LAPACK ``syevr``, the input overwritten: one extra p x p array
  instead of numpy's three), and after it the cross-products of the standardised rows
  with the targets (a dense BLAS product with the 0/1 codes, in place; measured faster
  than scipy's single-threaded sparse product). Peak: two p x p float64 arrays.
- Wide folds (``n_train < p``): the standardised training rows are small, so they are
  materialised and the n x n Gram matrix is decomposed, as before.

The fast default path (:class:`RankBasis`, :func:`ridge_fold_basis`) works in the
coordinates of the rows' own span instead: one global ``p x p`` Gram matrix, pivoted
Cholesky, then one ``r x r`` eigendecomposition per fold (see
:mod:`wavescope.waves.memory`).

Everything else (GCV over the penalty grid for every lag at once, the kept spectrum,
predictions) is the same arithmetic as the reference; ``tests/waves/memory_reference.py``
holds a plain scikit-learn loop that the tests compare against.

BLAS threads: the eigendecompositions, which dominate, run with :func:`blas_threads`
threads (1 when other processes already occupy a core: OpenBLAS with 2 threads on a
2-core machine with one core busy measured 2.2x slower than 1 thread for a 4096 x 4096
``eigh``).
"""

from __future__ import annotations

import os

import numpy as np

#: Bytes of float64 rows read at once (8 MB: 256 rows of 4096 features, enough for BLAS
#: to run at full speed; at 32 MB the fast path's chunk temporaries were 60 MB).
CHUNK_BYTES = 8 * 2**20
#: Largest prediction or weight block held at once (floats).
MAX_CELLS = 2e7
#: Largest weight or prediction block of the fast path (floats: 8 MB; at MAX_CELLS the
#: probe's 49 lags went in one block, three 20-25 MB arrays next to the fold's others).
#: Measured at the probe's size (r = 2479, 1920 test rows, 49 lags x 26 letters), per
#: fold: 0.44 s of CPU at 2e7, 0.55 s at 1e6 and 0.68 s at 5e5; the fold's traced numpy
#: peak 229 MB at 1e6 and 210 MB at 5e5 (then the eigendecomposition's).
PREDICT_CELLS = 1e6


class RowSource:
    """Rows of a design matrix held as a view of shape (n_blocks, n_per_block, p).

    Row ``r`` is ``x3[r // n_per_block, r % n_per_block]``. The view is never copied as a
    whole; :meth:`rows` returns float64 copies of the rows asked for.
    """

    def __init__(self, x3: np.ndarray):
        if x3.ndim != 3:
            raise ValueError(f"x3 must be 3-D, got shape {x3.shape}")
        self.x3 = x3
        self.n_blocks, self.n_per, self.p = x3.shape
        self.n = self.n_blocks * self.n_per

    @classmethod
    def from_matrix(cls, x: np.ndarray) -> RowSource:
        return cls(np.asarray(x)[None])

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` as a C-contiguous float64 array, shape (len(idx), p)."""
        b, t = np.divmod(np.asarray(idx), self.n_per)
        return np.ascontiguousarray(self.x3[b, t], dtype=np.float64)

    def chunks(self, idx: np.ndarray):
        """``(start, rows)`` over ``idx`` in chunks of about :data:`CHUNK_BYTES`."""
        step = max(1, int(CHUNK_BYTES // (8 * max(self.p, 1))))
        for i in range(0, len(idx), step):
            yield i, self.rows(idx[i : i + step])


def blas_threads() -> int:
    """BLAS threads for the decoder's dense linear algebra.

    ``cores - round(load)`` (at least 1) when the 1-minute load average is 0.5 or more,
    else all usable cores. Measured on 2 cores with one busy: ``eigh`` of 4096 x 4096 took
    35-38 s with 2 OpenBLAS threads against 16 s with 1. The load average also counts this
    process's own recent work (a model capture just before), so on 2 cores this usually
    picks 1 thread; on an otherwise idle machine 2 threads may then be faster (not
    measured here: the shared machine was never idle).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return cores
    busy = int(np.floor(load + 0.5))
    return max(1, min(cores, cores - busy)) if busy >= 1 else cores


def _limit(threads: int | None):
    from contextlib import nullcontext

    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")


def standardisation(src: RowSource, rows: np.ndarray):
    """Mean and SD of ``rows`` (two passes, like ``numpy.mean``/``numpy.std``); constant
    features get SD 1 (they are centred to 0)."""
    n = len(rows)
    s1 = np.zeros(src.p)
    for _, x in src.chunks(rows):
        s1 += x.sum(axis=0)
    mu = s1 / n
    ss = np.zeros(src.p)
    for _, x in src.chunks(rows):
        x -= mu
        ss += np.einsum("ij,ij->j", x, x)
    sd = np.sqrt(ss / n)
    sd[~(sd > 1e-12 * (np.abs(mu) + 1))] = 1.0
    return mu, sd


def dense_targets(y: np.ndarray, kind: str, n_classes: int, ymean=None) -> np.ndarray:
    """Targets of some rows as a dense matrix: one-hot codes of every lag, ``n_lags *
    n_classes`` columns (tokens), or the values less ``ymean`` (values)."""
    if kind != "tokens":
        return y - ymean
    n, n_lags = y.shape
    out = np.zeros((n, n_lags * n_classes))
    out[np.repeat(np.arange(n), n_lags), (y + np.arange(n_lags) * n_classes).ravel()] = 1.0
    return out


def target_stats(y: np.ndarray, kind: str, n_classes: int):
    """Mean and centred sum of squares of every target column of training targets ``y``."""
    n, n_lags = y.shape
    if kind == "tokens":
        cols = (y + np.arange(n_lags) * n_classes).reshape(-1)
        counts = np.bincount(cols, minlength=n_lags * n_classes).astype(float)
        return counts / n, counts - counts**2 / n
    ymean = y.mean(axis=0)
    return ymean, np.sum((y - ymean) ** 2, axis=0)


def gcv_choice(s, z, yss, n, alphas, kind, n_lags, n_classes):
    """The GCV penalty of every lag from singular values ``s`` and projections ``z``.

    ``GCV(alpha) = n RSS / (n - 1 - df)^2`` (the intercept is one degree of freedom); for
    tokens the RSS of a lag sums over its classes.
    """
    s2 = s**2
    shrink = s2 / (s2 + alphas[:, None])  # (n_alpha, r)
    df = shrink.sum(axis=1)
    rss = np.maximum(yss[None, :] - (2 * shrink - shrink**2) @ z**2, 0.0)
    if kind == "tokens":
        rss = rss.reshape(len(alphas), n_lags, n_classes).sum(axis=2)
    denom = n - 1 - df
    with np.errstate(divide="ignore", invalid="ignore"):
        gcv = np.where(denom[:, None] > 0, n * rss / denom[:, None] ** 2, np.inf)
    return alphas[np.argmin(gcv, axis=0)]


def _kept(lam, n, size):
    """Eigenvalues in decreasing order and the mask of the kept (non-null) directions."""
    lam = lam[::-1]
    # drop null directions (constant features; a non-constant standardised feature alone
    # gives an eigenvalue of n)
    return lam, lam > max(lam[0], float(n)) * size * 1e-12


def _predict(proj_rows, s, z, alpha, ymean, kind, n_classes, out, row0):
    """Fill ``out[row0:row0 + k]`` with the predictions of projected test rows."""
    n_lags = alpha.size
    width = n_classes if kind == "tokens" else 1
    k = proj_rows.shape[0]
    chunk = max(1, int(MAX_CELLS // max(k * width, 1)))
    s2 = s**2
    for l0 in range(0, n_lags, chunk):
        l1 = min(n_lags, l0 + chunk)
        filt = s[:, None] / (s2[:, None] + alpha[None, l0:l1])  # (r, chunk)
        if kind == "tokens":
            filt = np.repeat(filt, n_classes, axis=1)
            zz = z[:, l0 * n_classes : l1 * n_classes]
            res = proj_rows @ (filt * zz) + ymean[l0 * n_classes : l1 * n_classes]
            out[row0 : row0 + k, l0:l1] = res.reshape(k, l1 - l0, n_classes).argmax(axis=2)
        else:
            out[row0 : row0 + k, l0:l1] = proj_rows @ (filt * z[:, l0:l1]) + ymean[l0:l1]


def ridge_fold(
    src: RowSource,
    train: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    kind: str,
    n_classes: int,
    alphas: np.ndarray,
    threads: int | None = None,
):
    """Ridge decoder of every lag on one fold.

    Parameters
    ----------
    src : RowSource
        The features of every row.
    train, test : ndarray of int
        Row indices (sorted) of the fold.
    y : ndarray, shape (src.n, n_lags)
        Class indices (tokens) or values of every row and lag.
    threads : int, optional
        BLAS threads for the whole fold (None: leave them as they are).

    Returns
    -------
    pred : (n_test, n_lags) predicted class index (tokens) or value.
    alpha : (n_lags,) the penalty GCV chose per lag.
    """
    with _limit(threads):
        return _ridge_fold(src, train, test, y, kind, n_classes, np.asarray(alphas, float))


def _ridge_fold(src, train, test, y, kind, n_classes, alphas):
    n, p = len(train), src.p
    n_lags = y.shape[1]
    ytr = y[train]
    ymean, yss = target_stats(ytr, kind, n_classes)
    mu, sd = standardisation(src, train)
    pred = np.empty((len(test), n_lags), dtype=np.int64 if kind == "tokens" else float)
    if n >= p:
        from scipy.linalg import blas, eigh

        # Gram matrix of the standardised rows: lower triangle, accumulated in place
        g = np.zeros((p, p), order="F")
        for _, x in src.chunks(train):
            x -= mu
            x /= sd
            g = blas.dsyrk(1.0, x.T, beta=1.0, c=g, trans=0, lower=1, overwrite_c=1)
        lam, v = eigh(g, lower=True, overwrite_a=True, check_finite=False, driver="evr")
        del g
        # the kept (non-null) directions are the last r of the increasing spectrum: a
        # contiguous block of v's columns, used in place (no copy of v)
        r = int(_kept(lam, n, p)[1].sum())
        s = np.sqrt(lam[p - r :])
        vt = v[:, p - r :].T  # (r, p) C-contiguous view
        # xs^T y from the training rows again, after the decomposition (so that no
        # p x n_targets array is held next to the two p x p ones), in place
        xty_t = np.zeros((yss.size, p), order="F")  # (n_targets, p)
        for i, x in src.chunks(train):
            x -= mu
            x /= sd
            yt = dense_targets(ytr[i : i + len(x)], kind, n_classes, ymean)
            xty_t = blas.dgemm(1.0, yt.T, x.T, beta=1.0, c=xty_t, trans_b=1, overwrite_c=1)
        z = (vt @ xty_t.T) / s[:, None]  # (r, n_targets)
        del xty_t
        alpha = gcv_choice(s, z, yss, n, alphas, kind, n_lags, n_classes)
        for i, x in src.chunks(test):
            x -= mu
            x /= sd
            _predict(x @ vt.T, s, z, alpha, ymean, kind, n_classes, pred, i)
        return pred, alpha
    # wide: the n x n Gram matrix of the (small) standardised training rows (LAPACK's thin
    # SVD of a wide matrix measured 50-100x slower: 6 s against 0.07 s at 384 x 4096)
    xs = (src.rows(train) - mu) / sd
    lam, u_ = np.linalg.eigh(xs @ xs.T)
    lam, keep = _kept(lam, n, max(n, p))
    u_ = u_[:, ::-1][:, keep]
    s = np.sqrt(lam[keep])
    vt = (u_.T @ xs) / s[:, None]
    if kind == "tokens":
        from scipy import sparse

        cols = (ytr + np.arange(n_lags) * n_classes).reshape(-1)
        y1 = sparse.csr_matrix(
            (np.ones(cols.size), (np.repeat(np.arange(n), n_lags), cols)),
            shape=(n, n_lags * n_classes),
        )
        z = np.asarray(y1.T @ u_).T  # (r, n_targets); = U^T y_centred (columns sum to 0)
    else:
        z = u_.T @ (ytr - ymean)
    alpha = gcv_choice(s, z, yss, n, alphas, kind, n_lags, n_classes)
    for i, x in src.chunks(test):
        x -= mu
        x /= sd
        _predict(x @ vt.T, s, z, alpha, ymean, kind, n_classes, pred, i)
    return pred, alpha


# ------------------------------------------------------------ the rank-reduced fast path


#: Pivoted-Cholesky tolerance: a feature whose part outside the span of the pivot
#: features has a sum of squares at most ``PIVOT_TOL * n`` (globally standardised units,
#: where every feature's sum of squares is ``n``: an RMS of 3e-6 of its SD, about 50
#: float32 rounding units, so that float32 states computed from fewer dimensions count as
#: rank-deficient) is taken as a combination of the pivots. The remainders are orthogonal
#: to the pivots' span, so the Gram matrix loses at most ``p * PIVOT_TOL * n`` in any
#: direction (usually far less: remainders rarely align). The exact decoder drops
#: eigenvalues under ``1e-12 * max(lam_max, n) * p``; on v-Wave Mamba's states
#: (``lam_max = 85 n``) the bound is 0.12 of that cut.
PIVOT_TOL = 1e-11
#: Largest rank, as a fraction of the features, for which the reduced path is used: above
#: it the global Gram matrix and pivoting cost more than the per-fold reduction saves.
MAX_RANK_FRACTION = 0.85
#: LAPACK driver of the fast path's eigendecompositions: ``"evr"`` (MRRR: the input
#: destroyed, the eigenvectors in a new r x r array, workspace 26 r doubles). ``"evd"``
#: (divide and conquer) returns them in place but asks ``1 + 6 r + 2 r^2`` doubles of
#: workspace (98 MB at r = 2482); measured on a quiet machine at r = 2482, one thread:
#: 2.39 s (evd) against 2.44 s (evr) of CPU.
EIG_DRIVER = "evr"
#: Precision of the fast path's per-fold eigendecompositions (see :func:`ridge_fold_basis`).
FOLD_DTYPE = np.float64


class RankBasis:
    """Coordinates of the snapshot rows in their own span, shared by every fold.

    The rows are standardised once over *all* rows, ``xg = (x - mu) / sd``. The pivoted
    Cholesky factorisation of their Gram matrix gives ``r`` pivot features ``piv`` with
    ``xg ≈ xg[:, piv] @ coef`` for every row (the remainder of every feature at most
    :data:`PIVOT_TOL` ``* n`` in sum of squares). With ``lift`` the Cholesky factor of
    ``coef @ coef.T``, the coordinates ``q = xg[piv] @ lift`` (r values per row) keep
    every inner product of the rows: ``q_i . q_j = xg_i . xg_j``. A fold's ridge problem
    is then the same problem on the ``r`` coordinates: an ``r x r`` eigendecomposition
    instead of ``p x p``.

    Attributes
    ----------
    mu, sd : (p,) float64 mean and SD over all rows (constant features: SD 1).
    piv : (r,) the pivot features.
    packed : (r, r) float64, Fortran-ordered: the lower triangle holds the Gram matrix of
        ``q`` over all rows (about the global mean), the strict upper triangle ``U``, with
        ``lift = U^T diag(lift_diag)`` and ``U`` unit upper-triangular (one r x r array for
        both: 49 MB at r = 2482 instead of 98).
    lift_diag : (r,) the diagonal of ``lift``.
    lift, gram : (r, r) the full matrices, as new arrays (for checks; the decoder reads
        ``packed``).
    qsum : (r,) the sum of ``q`` over all rows (0 up to rounding).
    n, rank : rows and ``r``.
    """

    def __init__(self, src: RowSource, rows: np.ndarray, tol: float = PIVOT_TOL):
        from scipy.linalg import blas, cholesky, lapack, solve_triangular

        n, p = len(rows), src.p
        self.mu, self.sd = standardisation(src, rows)
        g = np.zeros((p, p), order="F")
        xsum = np.zeros(p)
        for _, x in src.chunks(rows):
            x -= self.mu
            x /= self.sd
            xsum += x.sum(axis=0)
            g = blas.dsyrk(1.0, x.T, beta=1.0, c=g, trans=0, lower=1, overwrite_c=1)
        # P^T G P = L L^T, the first r columns of L meaningful; overwrites g
        low, piv, r, info = lapack.dpstrf(g, lower=1, tol=tol * n, overwrite_a=1)
        if info < 0:  # pragma: no cover - LAPACK argument error
            raise RuntimeError(f"dpstrf failed (info={info})")
        r = int(r)
        piv = piv - 1  # LAPACK's are 1-based
        l11 = np.tril(low[:r, :r])
        l21 = np.array(low[r:, :r])  # (p - r, r)
        del low, g
        # xg[:, piv] = Q L^T with Q^T Q = I, so the other features are
        # xg[:, rest] = xg[:, piv] L11^{-T} L21^T: coef = [I, L11^{-T} L21^T]
        cn = solve_triangular(l11, l21.T, lower=True, trans="T", check_finite=False)
        del l21
        mm = blas.dsyrk(1.0, cn, lower=1) if cn.size else np.zeros((r, r))
        mm[np.diag_indices(r)] += 1.0
        del cn
        lift = cholesky(mm, lower=True, overwrite_a=True, check_finite=False)
        # Gram of q = xg[piv] @ lift over all rows: lift^T (L11 L11^T) lift (lower triangle)
        b = l11.T @ lift
        del l11
        # (r, r) F-ordered, lower triangle (BLAS refuses r = 0: constant features only)
        packed = blas.dsyrk(1.0, b, trans=1, lower=1) if r else np.zeros((0, 0), order="F")
        del b
        # lift = U^T diag(d), U unit upper-triangular: U's strict upper triangle goes into
        # the packed array above the Gram matrix's lower triangle (one r x r array for both)
        self.lift_diag = np.ascontiguousarray(np.diag(lift))
        lift /= self.lift_diag
        for j0 in range(0, r, 256):  # column blocks: no r x r temporaries
            j1 = min(r, j0 + 256)
            packed[:j1, j0:j1] += np.triu(lift.T[:j1, j0:j1], 1 - j0)
        del lift
        self.packed = packed
        self.piv = np.ascontiguousarray(piv[:r])
        self.n, self.rank, self.p = n, r, p
        self.qsum = self.times_lift(xsum[self.piv][None])[0]

    def unit_lift(self) -> np.ndarray:
        """``lift / lift_diag`` (unit lower-triangular), a new (r, r) array."""
        out = np.tril(self.packed.T, -1)
        out[np.diag_indices(self.rank)] = 1.0
        return out

    @property
    def lift(self) -> np.ndarray:
        """The (r, r) lower-triangular map from the pivot features to ``q`` (a new array)."""
        return self.unit_lift() * self.lift_diag

    @property
    def gram(self) -> np.ndarray:
        """The (r, r) Gram matrix of ``q`` over all rows, both triangles (a new array)."""
        return _full(self.packed)

    def fold_gram(self) -> np.ndarray:
        """A Fortran-ordered copy of the all-rows Gram matrix whose *lower* triangle is
        valid (the upper holds the lift): for BLAS/LAPACK calls with ``lower=1``."""
        return self.packed.copy(order="F")

    def times_lift(self, m: np.ndarray) -> np.ndarray:
        """``m @ lift`` for a (k, r) float64 array ``m`` (overwritten when Fortran-ordered):
        ``m @ U^T`` with ``U`` the packed array's unit upper triangle (half the work of a
        general product), then the columns scaled by the lift's diagonal."""
        from scipy.linalg import blas

        out = blas.dtrmm(1.0, self.packed, np.asfortranarray(m), side=1, lower=0,
                         trans_a=1, diag=1, overwrite_b=1)  # fmt: skip
        out *= self.lift_diag
        return out

    def coords(self, x: np.ndarray) -> np.ndarray:
        """Coordinates ``q`` (k, r) of raw rows ``x`` (k, p), Fortran-ordered."""
        xp = np.asfortranarray(x[:, self.piv])
        xp -= self.mu[self.piv]
        xp /= self.sd[self.piv]
        return self.times_lift(xp)


def target_cross(y: np.ndarray, kind: str, n_classes: int, q: np.ndarray) -> np.ndarray:
    """``sum_i t_i (x) q_i`` over rows: (n_targets, r), ``t_i`` the row's uncentred targets
    (one-hot codes of every lag, or the values)."""
    if kind != "tokens":
        return y.T @ q
    from scipy import sparse

    n, n_lags = y.shape
    cols = (y + np.arange(n_lags) * n_classes).reshape(-1)
    onehot_t = sparse.csr_matrix(
        (np.ones(cols.size), (cols, np.repeat(np.arange(n), n_lags))),
        shape=(n_lags * n_classes, n),
    )
    return np.asarray(onehot_t @ q)


def basis_cross(src: RowSource, basis: RankBasis, y, kind, n_classes) -> np.ndarray:
    """:func:`target_cross` of every row of ``src``, in the basis coordinates."""
    out = None
    rows = np.arange(src.n)
    for i, x in src.chunks(rows):
        xp = x[:, basis.piv]
        xp -= basis.mu[basis.piv]
        xp /= basis.sd[basis.piv]
        c = target_cross(y[i : i + len(x)], kind, n_classes, xp)
        out = c if out is None else out + c
    return basis.times_lift(out)


def ridge_fold_basis(
    src: RowSource,
    basis: RankBasis,
    cross_all: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    kind: str,
    n_classes: int,
    alphas: np.ndarray,
    threads: int | None = None,
    dtype=None,
):
    """:func:`ridge_fold` in the coordinates of a shared :class:`RankBasis` (tall folds).

    The same decoder (features centred on the training fold's mean, GCV per lag) except
    that the features are scaled by the SD over all rows (``basis.sd``), not the
    training fold's. ``cross_all`` is :func:`basis_cross` of all rows. Each fold costs
    the coordinates of its test rows (computed once and held, ``n_test x r`` float64) and
    one ``r x r`` eigendecomposition (LAPACK :data:`EIG_DRIVER` in ``dtype``, default
    :data:`FOLD_DTYPE`): the training rows' Gram matrix and cross-products are those of
    all rows less the test rows'. Predictions go through the ridge weights in the
    coordinates (``r x`` targets), not the test rows' projections on the kept directions.
    ``dtype=float32`` halves the eigendecomposition's time, and on the states of a
    trained v-Wave Mamba (300 steps, the probe's defaults), the tiny model layers and the
    delay lines of the tests it gives the float64 curves exactly, but it is not the
    default: on random Mamba states (full rank, 2048 features, forced through this path)
    it moved a lag's accuracy by 0.0100 where float64 moved it by 0.0008 (issue 21's
    tolerance is 0.005).
    """
    dtype = FOLD_DTYPE if dtype is None else dtype
    with _limit(threads):
        return _ridge_fold_basis(
            src, basis, cross_all, train, test, y, kind, n_classes,
            np.asarray(alphas, float), dtype,
        )  # fmt: skip


def _ridge_fold_basis(src, basis, cross_all, train, test, y, kind, n_classes, alphas, dtype):
    from scipy.linalg import blas, eigh

    n, p, r = len(train), src.p, basis.rank
    n_lags = y.shape[1]
    ytr = y[train]
    ymean, yss = target_stats(ytr, kind, n_classes)
    # the test rows' coordinates, once (n_test x r float64, held through the fold: a
    # second pass over the test rows after the eigendecomposition cost 10 % of the fold)
    qt = np.empty((len(test), r))
    for i, x in src.chunks(test):
        qt[i : i + len(x)] = basis.coords(x)
    if len(train) + len(test) == basis.n:  # all rows less the test rows
        g = basis.fold_gram()
        g = blas.dsyrk(-1.0, qt, beta=1.0, c=g, trans=1, lower=1, overwrite_c=1)
        qsum = basis.qsum - qt.sum(axis=0)
        cross = None  # all rows' less the test rows', after the eigendecomposition
    else:  # folds that leave rows out (purged time blocks): the training rows alone
        g = np.zeros((r, r), order="F")
        qsum, cross = np.zeros(r), np.zeros_like(cross_all)
        for i, x in src.chunks(train):
            q = basis.coords(x)
            qsum += q.sum(axis=0)
            g = blas.dsyrk(1.0, q, beta=1.0, c=g, trans=1, lower=1, overwrite_c=1)
            cross += target_cross(ytr[i : i + len(x)], kind, n_classes, q)
    m = qsum / n
    # centred on the fold's mean, in place (a rank-1 update: no r x r temporaries)
    g = blas.dsyr(-float(n), m, a=g, lower=1, overwrite_a=1)  # lower triangle used
    g = g.astype(dtype, copy=False)
    lam, e = eigh(g, lower=True, overwrite_a=True, check_finite=False, driver=EIG_DRIVER)
    del g
    lam = lam.astype(float)
    # the kept directions are the last k of the increasing spectrum: a view of e
    k = int(_kept(lam, n, p)[1].sum())
    s = np.sqrt(lam[r - k :])
    e = e[:, r - k :].astype(float, copy=False)
    if cross is None:  # all rows' less the test rows', in place (no second temporary)
        cross = target_cross(y[test], kind, n_classes, qt)
        np.subtract(cross_all, cross, out=cross)
    # the sum over training rows of (t - tmean) (x) (q - m), in place
    blas.dger(-float(n), m, ymean, a=cross.T, overwrite_a=1)
    qt -= m
    z = e.T @ cross.T  # (k, n_targets)
    z /= s[:, None]
    del cross
    alpha = gcv_choice(s, z, yss, n, alphas, kind, n_lags, n_classes)
    pred = np.empty((len(test), n_lags), dtype=np.int64 if kind == "tokens" else float)
    _predict_weights(qt, e, s, z, alpha, ymean, kind, n_classes, pred)
    return pred, alpha


def _predict_weights(qc, e, s, z, alpha, ymean, kind, n_classes, out):
    """Fill ``out`` with the predictions of centred test coordinates ``qc`` (n_test, r):
    the ridge weights ``W = e diag(s / (s^2 + alpha)) z`` of a block of lags in the
    coordinates, then ``qc @ W`` (cheaper than projecting the test rows on the ``k``
    kept directions when there are fewer targets than test rows)."""
    n_lags = alpha.size
    width = n_classes if kind == "tokens" else 1
    n_te = qc.shape[0]
    chunk = max(1, int(PREDICT_CELLS // max(max(n_te, e.shape[0]) * width, 1)))
    s2 = s**2
    for l0 in range(0, n_lags, chunk):
        l1 = min(n_lags, l0 + chunk)
        filt = np.repeat(s[:, None] / (s2[:, None] + alpha[None, l0:l1]), width, axis=1)
        w = e @ (filt * z[:, l0 * width : l1 * width])  # (r, targets of the block)
        res = qc @ w
        res += ymean[l0 * width : l1 * width]
        if kind == "tokens":
            out[:, l0:l1] = res.reshape(n_te, l1 - l0, n_classes).argmax(axis=2)
        else:
            out[:, l0:l1] = res


def _full(lower: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose lower triangle is ``lower``."""
    out = np.tril(lower)
    out += np.tril(lower, -1).T
    return out
