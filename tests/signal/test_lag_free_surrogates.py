"""The lag-free null's factors are computed once and draw the same surrogates as before."""

import numpy as np
import pytest

from wavescope.signal import LagFreeSurrogates, lag_free_surrogate, randomise_coef_phases


def _reference_lag_free_surrogate(coef, rng=None, *, n_sub_bands=None, profile=None):
    """lag_free_surrogate as it was (cb70bb4): one eigendecomposition per call and sub-band.

    Kept verbatim so that the factored path is compared with the original arithmetic,
    not with itself.
    """
    rng = np.random.default_rng(rng)
    c = np.asarray(coef)
    n_sites, n_bins = c.shape
    if n_sub_bands is None:
        n_sub_bands = int(np.clip(n_bins // max(2 * n_sites, 32), 1, 16))
    out = np.empty_like(c)
    for idx in np.array_split(np.arange(n_bins), max(1, min(n_sub_bands, n_bins))):
        x = c[:, idx].astype(np.complex128)
        cov = (x @ x.conj().T).real / max(len(idx), 1)
        w, v = np.linalg.eigh(cov)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        z = rng.standard_normal((n_sites, len(idx))) + 1j * rng.standard_normal((n_sites, len(idx)))
        y = root @ (z / np.sqrt(2.0))
        p = np.mean(np.abs(x) ** 2, axis=0) if profile is None else np.asarray(profile)[idx]
        y *= np.sqrt(p / max(float(p.mean()), np.finfo(float).tiny))[None, :]
        out[:, idx] = y.astype(c.dtype)
    return out


def _coef(n_sites, n_bins, dtype, seed=0):
    # spatially correlated (rank 3 plus a little noise) so that Re S has a spread of
    # eigenvalues, some near zero, as real band spectra do
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((n_sites, 3))
    src = rng.standard_normal((3, n_bins)) + 1j * rng.standard_normal((3, n_bins))
    noise = 0.01 * (
        rng.standard_normal((n_sites, n_bins)) + 1j * rng.standard_normal((n_sites, n_bins))
    )
    return (mix @ src + noise).astype(dtype)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize(
    "n_sites, n_bins, n_sub_bands, with_profile",
    [(12, 50, 1, True), (12, 50, 1, False), (8, 300, None, False), (20, 97, 3, True)],
)
def test_factored_draws_are_bit_identical_to_the_original_for_a_seed(
    dtype, n_sites, n_bins, n_sub_bands, with_profile
):
    # Exact equality (no tolerance): the factored path runs the same floating-point
    # operations on the same inputs, so a fixed seed must give the same null, and the
    # generator must be left in the same state for the draws that follow it.
    coef = _coef(n_sites, n_bins, dtype)
    profile = np.linspace(0.2, 1.0, n_bins) ** 2 if with_profile else None
    null = LagFreeSurrogates(coef, n_sub_bands=n_sub_bands, profile=profile)
    rng_new, rng_ref = np.random.default_rng(42), np.random.default_rng(42)
    for _ in range(4):
        # interleaved with phase randomisation, as measure_velocity draws them
        np.testing.assert_array_equal(
            randomise_coef_phases(coef, rng_new), randomise_coef_phases(coef, rng_ref)
        )
        new = null.draw(rng_new)
        ref = _reference_lag_free_surrogate(coef, rng_ref, n_sub_bands=n_sub_bands, profile=profile)
        assert new.dtype == ref.dtype == coef.dtype
        np.testing.assert_array_equal(new, ref)
    assert rng_new.bit_generator.state == rng_ref.bit_generator.state


def test_lag_free_surrogate_function_is_bit_identical_to_the_original():
    coef = _coef(10, 64, np.complex64, seed=3)
    np.testing.assert_array_equal(
        lag_free_surrogate(coef, 7), _reference_lag_free_surrogate(coef, 7)
    )


def test_draws_do_not_factorise_again(monkeypatch):
    # the point of the class: one eigendecomposition per sub-band, however many draws
    calls = []
    eigh = np.linalg.eigh
    monkeypatch.setattr(np.linalg, "eigh", lambda a: calls.append(a.shape) or eigh(a))
    null = LagFreeSurrogates(_coef(6, 120, np.complex128), n_sub_bands=3)
    rng = np.random.default_rng(0)
    for _ in range(10):
        null.draw(rng)
    assert calls == [(6, 6)] * 3


def test_surrogate_keeps_the_zero_lag_covariance_and_drops_the_lag():
    # Known truth: a plane wave along 8 sites has cross-spectrum S with a large imaginary
    # part (the lag); the surrogate's covariance must estimate Re S and its imaginary part
    # must vanish. With 4000 bins the sample covariance of unit-power entries has standard
    # error about 1 / sqrt(4000) = 0.016, so 0.08 (5 standard errors) bounds both.
    n_sites, n_bins = 8, 4000
    rng = np.random.default_rng(1)
    lag = np.exp(-1j * 0.6 * np.arange(n_sites))[:, None]
    coef = (
        lag * (rng.standard_normal(n_bins) + 1j * rng.standard_normal(n_bins))[None, :] / np.sqrt(2)
    )
    s = coef @ coef.conj().T / n_bins
    y = LagFreeSurrogates(coef, n_sub_bands=1).draw(rng)
    s_y = y @ y.conj().T / n_bins
    assert np.max(np.abs(s.imag)) > 0.5
    np.testing.assert_allclose(s_y.real, s.real, atol=0.08)
    np.testing.assert_allclose(s_y.imag, 0.0, atol=0.08)


def test_bad_shape_is_named():
    with pytest.raises(ValueError, match="2-D"):
        LagFreeSurrogates(np.zeros(5, complex))
