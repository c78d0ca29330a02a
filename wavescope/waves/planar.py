"""Per-sample plane fit of the phase map: the wave vector that best explains all sites.

This is the circular-linear regression of phase on position, solved per sample by
Gauss-Newton from the mean local gradient: with ``r_i = wrap(phi_i - g . x_i)``, the
circular mean ``c`` of the residuals is removed and ``wrap(r_i - c)`` is regressed on the
(weighted, centred) positions to update ``g``. Two iterations converge for any wave whose
local gradients are not aliased. With amplitude-squared weights this is the
maximum-likelihood plane under additive noise (phase variance grows as 1 / amplitude^2).

Numerical safety: positions are centred (the offset absorbs the shift, the gradient is
unchanged), weights are divided by their largest value at each sample and floored at
``WEIGHT_FLOOR`` (1e-3) of it, and samples whose normal equations are singular (all
weight on sites along one line, e.g. one channel a trillion times louder than the rest
after the others underflow) get NaN instead of an exception. The floor changes only
the weights of sites under 3% of the sample's largest amplitude, whose phases are
dominated by noise; it keeps a single mis-scaled channel from taking all the weight.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import WaveInputError, is_collinear

__all__ = ["fit_phase_plane"]

#: Smallest weight relative to the largest at the same sample (see the module notes).
WEIGHT_FLOOR = 1e-3
#: Samples whose normal matrix has det < SINGULAR_RTOL * trace^d are singular (NaN).
SINGULAR_RTOL = 1e-10


def fit_phase_plane(
    phase, positions, weights=None, *, init=None, n_iter: int = 2, return_variance: bool = False
):
    """Fit ``phi_i(t) = c(t) + g(t) . x_i`` at every sample.

    Parameters
    ----------
    phase : ndarray, shape (n_sites, n_times)
        Phase (radians) of the sites to use (good sites only, no NaN).
    positions : ndarray, shape (n_sites, d)
        Positions in length unit L.
    weights : ndarray, shape (n_sites, n_times), optional
        Non-negative weights (e.g. squared amplitude); uniform by default.
    init : ndarray, shape (d, n_times), optional
        Starting gradient (e.g. the mean of local gradients); zero by default.
    n_iter : int
        Gauss-Newton iterations.
    return_variance : bool
        Also return the estimated covariance of ``grad`` (radians^2 per L^2), from the
        residual scatter.

    Returns
    -------
    grad : ndarray, shape (d, n_times)
        Phase gradient in radians per L (the wave vector is ``-grad``).
    fit : ndarray, shape (n_times,)
        Fit strength in [0, 1]: weighted mean resultant length of the residuals
        (1 for a perfect plane wave).
    cov : ndarray, shape (n_times, d, d)
        Only with ``return_variance``. Noise across the gradient's direction inflates
        ``|grad|`` (to first order by ``var_perp / (2 |grad|)``), which biases speeds low
        when the gradient is small; :func:`wavescope.waves.measure_velocity` removes it.
    """
    phi = np.asarray(phase)
    x = np.asarray(positions, float)
    if x.ndim == 1:
        x = x[:, None]
    n, T = phi.shape
    d = x.shape[1]
    if n < d + 1:
        raise WaveInputError(f"a {d}-D plane fit needs at least {d + 1} good sites, got {n}.")
    dtype = phi.dtype if phi.dtype.kind == "f" else np.dtype(np.float64)
    x = x - x.mean(axis=0)
    W = np.ones((n, T), dtype) if weights is None else _relative_weights(weights, dtype)
    Sw = W.sum(axis=0)
    Sw = np.where(Sw > 0, Sw, 1)
    xt = x.T.astype(dtype)  # (d, n)
    xbar = (xt @ W) / Sw  # (d, T)
    S = np.empty((T, d, d), dtype)
    for a in range(d):
        for b in range(a, d):
            S[:, a, b] = S[:, b, a] = ((x[:, a] * x[:, b]).astype(dtype) @ W) / Sw - xbar[a] * xbar[
                b
            ]
    # positions on one line span no plane at any sample, whatever float32 round-off in S
    # says (an offset of 1000 with a spacing of 1e-5 once passed _regular)
    regular = np.zeros(T, bool) if d > 1 and is_collinear(x) else _regular(S)
    all_regular = bool(regular.all())
    g = np.zeros((d, T), dtype) if init is None else np.nan_to_num(np.asarray(init, dtype)).copy()
    xd = x.astype(dtype)  # (n, d)
    two_pi = dtype.type(2 * np.pi)
    inv_two_pi = dtype.type(1 / (2 * np.pi))

    def wrap_(a):  # in place, into [-pi, pi]
        t = np.rint(a * inv_two_pi)
        t *= two_pi
        a -= t

    def resultant(r):  # sum_i W exp(i r); cos and sin are ~50x faster than complex exp
        return np.sum(W * np.cos(r), axis=0) + 1j * np.sum(W * np.sin(r), axis=0)

    def project(g):  # x @ g without a matmul over a 1- or 2-long inner axis
        out = xd[:, 0, None] * g[0]
        for a in range(1, d):
            out += xd[:, a, None] * g[a]
        return out

    for it in range(n_iter + 1):
        r = phi - project(g)  # (n, T)
        wrap_(r)
        z = resultant(r)
        if it == n_iter:
            break
        r -= np.angle(z).astype(dtype)
        wrap_(r)
        Wr = W * r
        rhs = (xt @ Wr) / Sw - xbar * (np.sum(Wr, axis=0) / Sw)  # (d, T)
        if d == 1:
            delta = rhs / np.where(S[:, 0, 0] > 0, S[:, 0, 0], np.nan)
        elif all_regular:
            delta = np.linalg.solve(S, rhs.T[..., None])[..., 0].T
        else:
            delta = np.full((d, T), np.nan, dtype)
            if regular.any():
                delta[:, regular] = np.linalg.solve(S[regular], rhs.T[regular][..., None])[..., 0].T
        g += delta.astype(dtype)
    fit = (np.abs(z) / Sw).astype(dtype)
    if not return_variance:
        return g, fit
    # weighted residual variance (weights ~ inverse noise variance) -> Cov = s2 (X'WX)^-1
    r -= np.angle(z).astype(dtype)
    wrap_(r)
    s2 = np.sum(W * r * r, axis=0) / max(n - d - 1, 1)
    if all_regular:
        Sinv = np.linalg.inv(S.astype(np.float64))
    else:
        Sinv = np.full((T, d, d), np.nan)
        if regular.any():
            Sinv[regular] = np.linalg.inv(S[regular].astype(np.float64))
    return g, fit, (Sinv * (s2 / Sw)[:, None, None]).astype(dtype)


def _relative_weights(weights, dtype) -> np.ndarray:
    """Weights over their per-sample maximum, floored at WEIGHT_FLOOR; NaN -> the floor,
    +inf -> 1; a sample without any positive weight gets uniform weights. Divided in the
    weights' own precision, then cast (float64 weights of 1e300 fit no float32)."""
    W = np.asarray(weights)
    if W.dtype.kind != "f":
        W = W.astype(np.float64)
    top = W.max(axis=0)  # NaN and +inf propagate into the maximum; -inf is floored below
    if not np.all(np.isfinite(top)):
        W = np.where(np.isposinf(W), np.finfo(W.dtype).max, np.nan_to_num(W, nan=0.0))
        top = W.max(axis=0)
    top = np.where(top > 0, top, 1).astype(W.dtype)
    out = (W / top).astype(dtype, copy=False)
    np.maximum(out, dtype.type(WEIGHT_FLOOR), out=out)  # also lifts negative weights
    return out


def _regular(S: np.ndarray) -> np.ndarray:
    """Samples (T,) whose (d, d) normal matrix is safely invertible."""
    d = S.shape[-1]
    S64 = S.astype(np.float64)
    tr = np.trace(S64, axis1=1, axis2=2)
    if d == 1:
        det = S64[:, 0, 0]
    elif d == 2:
        det = S64[:, 0, 0] * S64[:, 1, 1] - S64[:, 0, 1] * S64[:, 1, 0]
    else:
        det = np.linalg.det(S64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(det) & (tr > 0) & (det > SINGULAR_RTOL * tr**d)
