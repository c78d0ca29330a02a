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
Cholesky (the factor then shrunk in place to its ``p x r`` and ``r x r`` blocks), then
one ``r x r`` eigendecomposition per fold, in place in the basis's own array (see
:mod:`wavescope.waves.memory`).

States too large to hold next to the decoder go to a :class:`StateFile` (an unlinked
temporary file, read back a chunk of rows at a time through the same :class:`RowSource`
interface: the curve is the same); the fast path then keeps its Gram triangle copy and
target cross-products in :class:`ArrayFile` s as well. With them, and
:func:`release_freed_memory` between the phases, the probe at its defaults (v-Wave Mamba
layer 0, 157 MB of float32 states) peaks at 0.45-0.46 GB of resident set (0.74 GB
before), of which 0.26 GB is Python, torch and scipy.

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
#: Targets (lag x class columns) per block where the fast path works a block of targets
#: at a time: its ``z`` and ridge weights overwrite the fold's targets x r cross-products
#: block by block, and GCV squares ``z`` block by block (no second targets x r array).
TARGET_BLOCK = 64
#: Columns per block where the targets' cross-products are summed in place.
COLUMN_BLOCK = 256


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


class StateFile:
    """Float32 states of shape (n_sequences, n_steps, n_features) held in an unnamed
    temporary file instead of memory (a caller too short of memory to hold them).

    Written one block of sequences at a time (:meth:`write`), read by the decoder through
    :meth:`source` (a :class:`RowSource` that reads the rows it is asked for with
    ``readinto``, no memory map: the file's pages never count in this process's resident
    set). The file is unlinked on creation (``tempfile.TemporaryFile``: deleted when closed
    or when the process ends) and lives in ``dir`` (default: the system's temporary
    directory). The states cost disk space (and page cache, which the system may reclaim)
    instead of resident memory; on a tmpfs temporary directory they are in memory all the
    same, only outside this process's resident set (point ``TMPDIR`` at a disk then).
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, shape, dir=None):
        import tempfile

        self.shape = tuple(int(v) for v in shape)
        if len(self.shape) != 3:
            raise ValueError(f"shape must be (n_sequences, n_steps, n_features), got {shape}")
        self.file = tempfile.TemporaryFile(dir=dir)
        self.row_bytes = self.shape[2] * self.dtype.itemsize
        self.file.truncate(self.shape[0] * self.shape[1] * self.row_bytes)

    def write(self, i: int, block: np.ndarray) -> None:
        """Store ``block`` (k, n_steps, n_features) as sequences ``i .. i + k``."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.ndim != 3 or block.shape[1:] != self.shape[1:] or i + len(block) > self.shape[0]:
            raise ValueError(f"a block of shape {block.shape} does not fit at sequence {i}")
        if not np.all(np.isfinite(block)):
            from wavescope.core.validate import WaveInputError

            bad = np.argwhere(~np.isfinite(block))[0]
            raise WaveInputError(
                f"states hold NaN or infinite values (first at sequence {i + bad[0]}, step "
                f"{bad[1]}, feature {bad[2]}); drop or repair those features or sequences first."
            )
        self.file.seek(i * self.shape[1] * self.row_bytes)
        self.file.write(memoryview(block).cast("B"))

    def read_rows(self, flat: np.ndarray) -> np.ndarray:
        """Rows at flat positions ``flat`` (sequence * n_steps + step, increasing) as float32,
        shape (len(flat), n_features): one read per run of consecutive positions."""
        flat = np.asarray(flat, dtype=np.int64)
        out = np.empty((len(flat), self.shape[2]), dtype=self.dtype)
        if not len(flat):
            return out
        cuts = np.flatnonzero(np.diff(flat) != 1) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(flat)]])
        view = memoryview(out).cast("B")
        for a, b in zip(starts, ends):
            self.file.seek(int(flat[a]) * self.row_bytes)
            want = (b - a) * self.row_bytes
            got = self.file.readinto(view[a * self.row_bytes : b * self.row_bytes])
            if got != want:  # pragma: no cover - the file was truncated by someone else
                raise OSError(f"short read from the state file ({got} of {want} bytes)")
        return out

    def source(self, step0: int = 0) -> FileRowSource:
        """The rows of steps ``step0 ..`` of every sequence, as a :class:`RowSource`."""
        return FileRowSource(self, int(step0))

    def close(self) -> None:
        self.file.close()


class FileRowSource(RowSource):
    """A :class:`RowSource` over the steps ``step0 ..`` of a :class:`StateFile`."""

    def __init__(self, states: StateFile, step0: int = 0):
        n_seq, n_steps, p = states.shape
        if not 0 <= step0 < n_steps:
            raise ValueError(f"step0={step0} is outside 0 .. {n_steps - 1}")
        self.states, self.step0 = states, step0
        self.x3 = None
        self.n_blocks, self.n_per, self.p = n_seq, n_steps - step0, p
        self.n = self.n_blocks * self.n_per

    def rows(self, idx: np.ndarray) -> np.ndarray:
        b, t = np.divmod(np.asarray(idx, dtype=np.int64), self.n_per)
        flat = b * self.states.shape[1] + self.step0 + t
        order = None
        if len(flat) > 1 and np.any(np.diff(flat) < 0):
            order = np.argsort(flat, kind="stable")
        x = self.states.read_rows(flat if order is None else flat[order])
        if order is not None:
            x[order] = x.copy()
        return np.ascontiguousarray(x, dtype=np.float64)


class ArrayFile:
    """A float64 array kept in an unlinked temporary file instead of memory (what the fast
    path keeps across folds when the states themselves are in a :class:`StateFile`).

    ``shape`` is the array's; :meth:`read` returns its flat elements ``start .. stop``
    (C order), :meth:`array` the whole array (a new one).
    """

    def __init__(self, a: np.ndarray, dir=None):
        import tempfile

        a = np.asarray(a, dtype=np.float64)
        self.shape, self.size = a.shape, a.size
        self.file = tempfile.TemporaryFile(dir=dir)
        flat = np.ravel(a)  # C order (a copy when a is Fortran-ordered)
        for i in range(0, flat.size, 2**20):
            self.file.write(memoryview(np.ascontiguousarray(flat[i : i + 2**20])).cast("B"))
        self.file.flush()

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty(stop - start)
        self.file.seek(8 * start)
        if self.file.readinto(memoryview(out).cast("B")) != out.nbytes:  # pragma: no cover
            raise OSError("short read from an array file")
        return out

    def array(self) -> np.ndarray:
        return self.read(0, self.size).reshape(self.shape)


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; nothing
    elsewhere). A model's forward passes free their intermediates to the heap, which
    glibc keeps: after the probe's capture about 60 MB of the resident set was such
    free memory, and the decoder's phases leave some of theirs (the next phase's arrays
    are new memory maps: without it they add up)."""
    import ctypes

    try:  # the process's own symbols (ctypes.util.find_library runs ldconfig: slow)
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not glibc
        pass


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
    fit = np.empty((len(alphas), z.shape[1]))
    weight = 2 * shrink - shrink**2
    for t0 in range(0, z.shape[1], TARGET_BLOCK):  # no second r x targets array
        fit[:, t0 : t0 + TARGET_BLOCK] = weight @ z[:, t0 : t0 + TARGET_BLOCK] ** 2
    rss = np.maximum(yss[None, :] - fit, 0.0)
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
    gram_lower : (r (r + 1) / 2,) the Gram matrix's lower triangle, column by column: a
        fold overwrites ``packed``'s lower triangle and :meth:`restore_gram` puts it back.
        An :class:`ArrayFile` when ``spill`` (default: when ``src`` is a
        :class:`FileRowSource`, i.e. the caller is short of memory).
    lift, gram : (r, r) the full matrices, as new arrays (for checks; the decoder reads
        ``packed``).
    qsum : (r,) the sum of ``q`` over all rows (0 up to rounding).
    n, rank : rows and ``r``.
    """

    def __init__(
        self, src: RowSource, rows: np.ndarray, tol: float = PIVOT_TOL, spill: bool | None = None
    ):
        from scipy.linalg import blas, cholesky, lapack, solve_triangular

        n, p = len(rows), src.p
        self.mu, self.sd = standardisation(src, rows)
        buf = np.zeros(p * p)  # the p x p Gram matrix, Fortran-ordered, in a 1-D owner
        g = buf.reshape((p, p), order="F")
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
        if not np.shares_memory(low, buf):  # pragma: no cover - f2py copied the input
            buf.reshape((p, p), order="F")[:] = low
        del g, low
        # only L's first r columns matter: keep them (p r doubles) and give the rest back
        buf.resize(p * r, refcheck=False)
        l21 = np.array(buf.reshape((p, r), order="F")[r:])  # (p - r, r)
        l11 = _shrink_to_leading_block(buf, p, r)  # L11 in buf's first r^2 doubles
        del buf
        # xg[:, piv] = Q L^T with Q^T Q = I, so the other features are
        # xg[:, rest] = xg[:, piv] L11^{-T} L21^T: coef = [I, L11^{-T} L21^T]
        cn = solve_triangular(l11, l21.T, lower=True, trans="T", check_finite=False)
        del l21
        mm = blas.dsyrk(1.0, cn, lower=1) if cn.size else np.zeros((r, r))
        mm[np.diag_indices(r)] += 1.0
        del cn
        lift = cholesky(mm, lower=True, overwrite_a=True, check_finite=False)
        del mm
        # Gram of q = xg[piv] @ lift over all rows: bt bt^T with bt = lift^T L11, computed
        # over L11 (a triangular product in place: no third r x r array)
        bt = blas.dtrmm(1.0, lift, l11, lower=1, trans_a=1, overwrite_b=1) if r else l11
        del l11
        # lift = U^T diag(d), U unit upper-triangular: U's strict upper triangle goes into
        # lift's own (zero) upper triangle, and the Gram matrix over its lower triangle (one
        # r x r array for both, F-ordered)
        self.lift_diag = np.ascontiguousarray(np.diag(lift))
        lift /= self.lift_diag
        for j0 in range(0, r, 256):  # column blocks: no r x r temporaries
            j1 = min(r, j0 + 256)
            lift[:j1, j0:j1] += np.triu(lift.T[:j1, j0:j1], 1 - j0)
        packed = lift if r else np.zeros((0, 0), order="F")
        if r:  # BLAS refuses r = 0 (constant features only)
            packed = blas.dsyrk(1.0, bt, beta=0.0, c=packed, lower=1, overwrite_c=1)
        del lift, bt
        self.packed = packed
        self.piv = np.ascontiguousarray(piv[:r])
        self.n, self.rank, self.p = n, r, p
        self.qsum = self.times_lift(xsum[self.piv][None])[0]
        # the Gram matrix's lower triangle, column by column (r (r + 1) / 2 doubles): a
        # fold decomposes it in place in ``packed`` and puts it back from here
        # (in a temporary file when the rows come from one: ``spill`` None)
        self.gram_lower = np.empty(r * (r + 1) // 2)
        offsets = _column_offsets(r)
        for j, at in zip(range(r), offsets):
            self.gram_lower[at : at + r - j] = packed[j:, j]
        if isinstance(src, FileRowSource) if spill is None else spill:
            self.gram_lower = ArrayFile(self.gram_lower)

    def restore_gram(self) -> None:
        """Put the all-rows Gram matrix back into ``packed``'s lower triangle (after a fold
        overwrote it; the strict upper triangle, the lift, is never written)."""
        r, low = self.rank, self.gram_lower
        offsets = np.append(_column_offsets(r), r * (r + 1) // 2)
        for j0 in range(0, r, 64):  # blocks of columns (a file is read a block at a time)
            j1 = min(r, j0 + 64)
            part = low[offsets[j0] : offsets[j1]] if isinstance(low, np.ndarray) else (
                low.read(offsets[j0], offsets[j1]))  # fmt: skip
            for j in range(j0, j1):
                a = offsets[j] - offsets[j0]
                self.packed[j:, j] = part[a : a + r - j]

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


def _column_offsets(r: int) -> np.ndarray:
    """Where column j of an r x r lower triangle starts when stored column by column."""
    j = np.arange(r)
    return j * r - j * (j - 1) // 2


def _shrink_to_leading_block(buf: np.ndarray, p: int, r: int) -> np.ndarray:
    """The lower triangle of the leading r x r block of the Fortran-ordered p x r matrix
    held in ``buf`` (1-D, owning its memory, no other reference to it), moved to the
    start of ``buf``, which is then shrunk to r^2 doubles in place (``realloc``: the rest
    goes back to the system, no second r x r array); returned as an (r, r) Fortran view."""
    for j in range(r):  # column j moves from offset j p to j r (never forward)
        buf[j * r + j : (j + 1) * r] = buf[j * p + j : j * p + r]
        buf[j * r : j * r + j] = 0.0  # the strict upper triangle
    buf.resize(r * r, refcheck=False)
    return buf.reshape((r, r), order="F")


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
    width = n_classes if kind == "tokens" else 1
    out = np.zeros((y.shape[1] * width, basis.rank), order="F")  # summed in place
    rows = np.arange(src.n)
    for i, x in src.chunks(rows):
        xp = x[:, basis.piv]
        xp -= basis.mu[basis.piv]
        xp /= basis.sd[basis.piv]
        _add_target_cross(out, y[i : i + len(x)], kind, n_classes, xp, 1.0)
    return basis.times_lift(out)  # Fortran-ordered, over out (no second array)


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
    training fold's. ``cross_all`` is :func:`basis_cross` of all rows (an array, or an
    :class:`ArrayFile` holding it). Each fold costs
    two passes over its test rows' coordinates (a chunk at a time, never all held) and
    one ``r x r`` eigendecomposition (LAPACK :data:`EIG_DRIVER` in ``dtype``, default
    :data:`FOLD_DTYPE`): the training rows' Gram matrix and cross-products are those of
    all rows less the test rows'. In float64 the Gram matrix is downdated and decomposed
    in place in ``basis.packed``'s lower triangle (put back from ``basis.gram_lower``
    after; the lift in the upper triangle is never written), so the fold adds the
    eigenvectors (``r x r``) and one targets x ``r`` array (the cross-products, then
    ``z``, then the ridge weights, each over the last a block of targets at a time) to
    what the basis holds: at the probe's defaults (r = 2479) about 75 MB. Predictions go
    through the ridge weights in the coordinates, the test rows' coordinates computed
    again a chunk at a time (about 0.2 s of CPU per fold at those sizes).
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
    in_place = len(train) + len(test) == basis.n and dtype == np.float64
    if len(train) + len(test) == basis.n:  # all rows less the test rows, a chunk at a time
        # (the test rows' coordinates are not held: they are computed again to predict)
        g = basis.packed if in_place else basis.fold_gram()  # lower triangle used
        qsum = basis.qsum.copy()
        cross = cross_all.array() if isinstance(cross_all, ArrayFile) else cross_all.copy("C")
        for i, x in src.chunks(test):
            q = basis.coords(x)
            g = blas.dsyrk(-1.0, q, beta=1.0, c=g, trans=1, lower=1, overwrite_c=1)
            qsum -= q.sum(axis=0)
            _add_target_cross(cross, y[test[i : i + len(x)]], kind, n_classes, q, -1.0)
    else:  # folds that leave rows out (purged time blocks): the training rows alone
        g = np.zeros((r, r), order="F")
        qsum, cross = np.zeros(r), np.zeros(cross_all.shape)  # C-ordered
        for i, x in src.chunks(train):
            q = basis.coords(x)
            qsum += q.sum(axis=0)
            g = blas.dsyrk(1.0, q, beta=1.0, c=g, trans=1, lower=1, overwrite_c=1)
            _add_target_cross(cross, ytr[i : i + len(x)], kind, n_classes, q, 1.0)
    m = qsum / n
    # centred on the fold's mean, in place (a rank-1 update: no r x r temporaries)
    g = blas.dsyr(-float(n), m, a=g, lower=1, overwrite_a=1)  # lower triangle used
    g = g.astype(dtype, copy=False)
    release_freed_memory()  # the chunks' freed temporaries, before the eigenvectors
    try:
        lam, e = eigh(g, lower=True, overwrite_a=True, check_finite=False, driver=EIG_DRIVER)
    finally:
        if in_place:  # the decomposition overwrote the all-rows Gram matrix's triangle
            basis.restore_gram()
    del g
    lam = lam.astype(float)
    # the kept directions are the last k of the increasing spectrum: a view of e
    k = int(_kept(lam, n, p)[1].sum())
    s = np.sqrt(lam[r - k :])
    e = e[:, r - k :].astype(float, copy=False)
    # the sum over training rows of (t - tmean) (x) (q - m), in place
    blas.dger(-float(n), m, ymean, a=cross.T, overwrite_a=1)
    # z^T = cross e / s (targets x k), then the ridge weights W^T (targets x r), each
    # written over ``cross`` a block of targets at a time (no second targets x r array)
    zt = _rows_times(cross, e, k)
    zt /= s
    alpha = gcv_choice(s, zt.T, yss, n, alphas, kind, n_lags, n_classes)
    wt = _weights_t(cross, zt, e, s, alpha, kind, n_classes)
    del e, zt
    pred = np.empty((len(test), n_lags), dtype=np.int64 if kind == "tokens" else float)
    for i, x in src.chunks(test):
        qc = basis.coords(x)
        qc -= m
        _predict_rows(qc, wt, ymean, kind, n_classes, pred[i : i + len(x)])
    return pred, alpha


def _rows_times(a: np.ndarray, e: np.ndarray, k: int) -> np.ndarray:
    """``a @ e`` (rows x k) written over ``a[:, :k]`` a block of rows at a time; returns
    that view. ``a`` (rows x r, C-ordered) is overwritten."""
    for t0 in range(0, a.shape[0], TARGET_BLOCK):
        t1 = min(a.shape[0], t0 + TARGET_BLOCK)
        a[t0:t1, :k] = a[t0:t1] @ e
    return a[:, :k]


def _weights_t(buf, zt, e, s, alpha, kind, n_classes):
    """The ridge weights of every target in the coordinates, transposed (targets x r):
    ``W^T = (z^T diag(s / (s^2 + alpha))) e^T`` with the penalty of each target's lag,
    written over ``buf`` (which holds ``zt`` in its first k columns) a block of targets at
    a time."""
    width = n_classes if kind == "tokens" else 1
    s2 = s**2
    for t0 in range(0, buf.shape[0], TARGET_BLOCK):
        t1 = min(buf.shape[0], t0 + TARGET_BLOCK)
        a = alpha[np.arange(t0, t1) // width]  # each target's lag's penalty
        f = zt[t0:t1] * (s[None, :] / (s2[None, :] + a[:, None]))
        buf[t0:t1] = f @ e.T
    return buf


def _predict_rows(qc, wt, ymean, kind, n_classes, out):
    """Fill ``out`` (rows x lags) with the predictions of centred coordinates ``qc``."""
    res = qc @ wt.T
    res += ymean
    if kind == "tokens":
        out[:] = res.reshape(len(qc), -1, n_classes).argmax(axis=2)
    else:
        out[:] = res


def _add_target_cross(out, y, kind, n_classes, q, sign):
    """``out += sign * target_cross(y, kind, n_classes, q)`` in place, a block of q's
    columns at a time (no targets x r temporary)."""
    if kind != "tokens":
        out += sign * (y.T @ q)  # (n_lags, r): small
        return
    from scipy import sparse

    n, n_lags = y.shape
    cols = (y + np.arange(n_lags) * n_classes).reshape(-1)
    onehot_t = sparse.csr_matrix(
        (np.ones(cols.size), (cols, np.repeat(np.arange(n), n_lags))),
        shape=(n_lags * n_classes, n),
    )
    for c0 in range(0, q.shape[1], COLUMN_BLOCK):
        c = np.asarray(onehot_t @ q[:, c0 : c0 + COLUMN_BLOCK])
        if sign < 0:
            out[:, c0 : c0 + COLUMN_BLOCK] -= c
        else:
            out[:, c0 : c0 + COLUMN_BLOCK] += c


def _full(lower: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose lower triangle is ``lower``."""
    out = np.tril(lower)
    out += np.tril(lower, -1).T
    return out
