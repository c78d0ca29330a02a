"""The fast memory-curve decoder (shared rank-r basis) against the exact per-fold one.

The fast path (the default) standardises the features once over all rows, reduces them
to the span of the rows (pivoted Cholesky) and eigendecomposes each fold's r x r Gram
matrix; ``exact=True`` is the per-fold float64 reference. Wanted (issue 21):
the same horizon and every lag's held-out score within 0.005 of the reference.
"""

import numpy as np
import pytest
from delay_lines import token_delay_line
from threadpoolctl import threadpool_limits

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.waves import memory_curve, memory_curve_field, memory_ridge

#: The tolerance issue 21 fixes for the fast path: every lag's score within 0.005 of the
#: exact decoder's (accuracy or R^2).
TOL = 0.005


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def low_rank_states(n_seq, n_steps, n_sites, vocab, n_feat, seed, dtype=np.float32):
    """An ``n_sites`` delay line (horizon ``n_sites``) with noise on its codes, plus 10
    noise dimensions, mixed into ``n_feat`` features of unequal scale: rank
    ``n_sites * vocab + 10`` of ``n_feat``, an imperfect read-out."""
    rng = np.random.default_rng(seed)
    states, u = token_delay_line(n_seq, n_steps, n_sites, vocab, seed=seed)
    states += 0.45 * rng.normal(size=states.shape)
    latent = np.concatenate([states, rng.normal(size=states.shape[:2] + (10,))], axis=2)
    x = latent @ rng.normal(size=(latent.shape[-1], n_feat))
    x *= rng.uniform(0.2, 5.0, size=n_feat)
    x[..., 3] = 2.5  # a constant feature
    return x.astype(dtype), u


def assert_close_to_exact(fast, exact):
    assert fast.meta["exact"] is False and exact.meta["exact"] is True
    assert fast.horizon == exact.horizon
    np.testing.assert_allclose(fast.score, exact.score, rtol=0, atol=TOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_tokens_match_the_exact_decoder_and_the_known_horizon(seed):
    n_sites, vocab = 4, 6
    x, u = low_rank_states(40, 60, n_sites, vocab, 120, seed)
    exact = memory_curve(x, u, 9, n_boot=100, exact=True)
    fast = memory_curve(x, u, 9, n_boot=100)
    assert fast.meta["rank"] == n_sites * vocab + 10  # the span of the rows
    assert exact.horizon == n_sites  # the known truth, so the comparison means something
    assert 0.3 < exact.score[:n_sites].min() < 1.0  # imperfect: predictions can differ
    assert_close_to_exact(fast, exact)


def test_fast_values_match_the_exact_decoder():
    x, u = low_rank_states(40, 60, 3, 5, 100, 2)
    rng = np.random.default_rng(2)
    v = u + 0.7 * rng.normal(size=u.shape)  # real-valued input, R^2 below 1
    exact = memory_curve(x, v, 8, n_boot=100, exact=True)
    fast = memory_curve(x, v, 8, n_boot=100)
    assert exact.horizon == 3 and fast.meta["rank"] < 100
    assert_close_to_exact(fast, exact)


def test_fast_field_with_purged_blocks_matches_the_exact_decoder():
    """One recording cut into time blocks: training rows near a test block are purged,
    so a fold's training rows are not all rows less its test rows."""
    x, u = low_rank_states(1, 3000, 4, 5, 80, 3)
    fld = WaveField.from_line(x[0].T.astype(float), fs=1.0, time_unit="step")
    exact = memory_curve_field(fld, u[0], max_lag=8, n_boot=100, exact=True)
    fast = memory_curve_field(fld, u[0], max_lag=8, n_boot=100)
    assert all(p > 0 for p in fast.meta["purged_per_fold"])
    assert exact.horizon == 4 and fast.meta["rank"] < 80
    assert_close_to_exact(fast, exact)


def test_full_rank_states_take_the_exact_path():
    rng = np.random.default_rng(4)
    u = rng.integers(0, 4, size=(20, 40))
    x = rng.normal(size=(20, 40, 30))
    x[..., :4] += np.eye(4)[u]
    fast = memory_curve(x, u, 5, n_boot=50)
    exact = memory_curve(x, u, 5, n_boot=50, exact=True)
    assert fast.meta["exact"] is True and fast.meta["rank"] is None
    np.testing.assert_array_equal(fast.score, exact.score)


def test_basis_coordinates_keep_the_inner_products_of_the_rows():
    """q_i . q_j = xg_i . xg_j (xg: rows standardised over all rows), to rounding."""
    x, _ = low_rank_states(10, 30, 3, 4, 50, 5, dtype=np.float64)
    src = memory_ridge.RowSource(x)
    basis = memory_ridge.RankBasis(src, np.arange(src.n))
    rows = src.rows(np.arange(src.n))
    xg = (rows - basis.mu) / basis.sd
    q = basis.coords(rows.copy())
    assert basis.rank == 3 * 4 + 10
    np.testing.assert_allclose(q @ q.T, xg @ xg.T, rtol=0, atol=1e-8 * np.abs(xg @ xg.T).max())
    np.testing.assert_allclose(q.T @ q, basis.gram, rtol=0, atol=1e-8 * np.abs(basis.gram).max())
    # the packed array: the Gram matrix below, the lift's unit triangle above
    np.testing.assert_array_equal(np.tril(basis.packed), np.tril(basis.gram))
    np.testing.assert_array_equal(basis.lift, np.tril(basis.lift))
    np.testing.assert_allclose(np.diag(basis.lift), basis.lift_diag, rtol=1e-15)
    np.testing.assert_allclose(basis.qsum, q.sum(axis=0), rtol=0, atol=1e-8 * np.abs(q).max())


def test_basis_of_constant_features_is_empty():
    src = memory_ridge.RowSource(np.full((2, 30, 5), 3.0))
    basis = memory_ridge.RankBasis(src, np.arange(src.n))
    assert basis.rank == 0 and basis.packed.shape == (0, 0) and basis.qsum.shape == (0,)


def test_state_file_rows_and_curve_match_the_array():
    """States in a temporary file (StateFile) read back the same rows, in any order, and
    give the same curve, fast and exact, as the array they were written from."""
    x, u = low_rank_states(10, 30, 3, 4, 50, 2)
    states = memory_ridge.StateFile(x.shape)
    for i in range(0, 10, 3):  # written a block of sequences at a time
        states.write(i, x[i : i + 3])
    src, ref = states.source(5), memory_ridge.RowSource(x[:, 5:])
    for idx in (np.arange(ref.n), np.array([7, 3, 3, 200, 0, 249]), np.array([], int)):
        np.testing.assert_array_equal(src.rows(idx), ref.rows(idx))
    for exact in (False, True):
        from_file = memory_curve(states, u, 5, n_boot=50, exact=exact)
        from_array = memory_curve(x, u, 5, n_boot=50, exact=exact)
        np.testing.assert_array_equal(from_file.score, from_array.score)
        assert from_file.horizon == from_array.horizon
    states.close()


def test_state_file_refuses_non_finite_states():
    states = memory_ridge.StateFile((2, 3, 4))
    bad = np.zeros((1, 3, 4), np.float32)
    bad[0, 2, 1] = np.nan
    with pytest.raises(WaveInputError, match="sequence 1, step 2, feature 1"):
        states.write(1, bad)
    with pytest.raises(ValueError, match="does not fit"):
        states.write(2, np.zeros((1, 3, 4), np.float32))


@pytest.mark.parametrize("spill", [False, True])
def test_fold_keeps_the_basis_unchanged(spill):
    """A fold decomposes its Gram matrix in place in the basis's packed array and puts the
    all-rows Gram matrix back (from memory, or from a file with ``spill``): the basis after
    a fold is the basis before it, bit for bit (the lift in the other triangle is never
    written), and the fold's predictions are the same either way."""
    x, u = low_rank_states(10, 30, 3, 4, 50, 3, dtype=np.float64)
    src = memory_ridge.RowSource(x[:, 5:])
    basis = memory_ridge.RankBasis(src, np.arange(src.n), spill=spill)
    assert isinstance(basis.gram_lower, memory_ridge.ArrayFile) == spill
    y = np.stack([u[:, 5 - lag : 30 - lag] for lag in range(6)], axis=-1).reshape(-1, 6)
    cross = memory_ridge.basis_cross(src, basis, y, "tokens", 4)
    packed, cross_before = basis.packed.copy(), cross.copy()
    test, alphas = np.arange(50), np.logspace(-3, 5, 17)  # the first two sequences
    args = (np.arange(50, src.n), test, y, "tokens", 4, alphas)
    pred, alpha = memory_ridge.ridge_fold_basis(src, basis, cross, *args)
    np.testing.assert_array_equal(basis.packed, packed)
    np.testing.assert_array_equal(cross, cross_before)
    assert pred.shape == (50, 6) and alpha.shape == (6,)
    in_file = memory_ridge.ArrayFile(cross)
    np.testing.assert_array_equal(in_file.array(), cross)
    pred2, alpha2 = memory_ridge.ridge_fold_basis(src, basis, in_file, *args)
    np.testing.assert_array_equal(pred2, pred)
    np.testing.assert_array_equal(alpha2, alpha)
    np.testing.assert_array_equal(basis.packed, packed)
