"""Circular statistics of directions: descriptive measures, tests and correlations.

All angles are in radians (any range; they are used through ``exp(i theta)``); NaNs are
dropped. Tests return a :class:`CircularTest` with the statistic, the p-value and the
sample size.

References
----------
Zar JH (2010). Biostatistical Analysis, 5th ed., chapters 26-27. Pearson.
Berens P (2009). CircStat: a MATLAB toolbox for circular statistics. J Stat Softw 31(10).
Fisher NI (1993). Statistical Analysis of Circular Data. Cambridge University Press.
Mardia KV, Jupp PE (2000). Directional Statistics. Wiley.
Jammalamadaka SR, SenGupta A (2001). Topics in Circular Statistics. World Scientific.
Fisher NI, Lee AJ (1983). A correlation coefficient for circular data. Biometrika 70, 327-332.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np
from scipy import stats as _st

from wavescope.core.circular import circ_mean, resultant_length, wrap
from wavescope.core.validate import WaveInputError, check_option

__all__ = [
    "CircularTest",
    "angular_deviation",
    "circ_circ_corr",
    "circ_kappa",
    "circ_linear_corr",
    "circ_mean",
    "circ_std",
    "circ_var",
    "rayleigh_test",
    "resultant_length",
    "v_test",
    "watson_williams_permutation",
    "watson_williams_test",
    "wrap",
]


@dataclass(frozen=True)
class CircularTest:
    """Result of a circular test or correlation.

    Attributes
    ----------
    statistic : float
        The test statistic (named in ``name``).
    p_value : float
        In (0, 1].
    n : int
        Number of angles used (all groups together for multi-sample tests).
    name : str
        What ``statistic`` is, e.g. ``"rayleigh z"``.
    extra : dict
        Other numbers of the test (e.g. ``{"r": ..., "mean": ...}``).
    """

    statistic: float
    p_value: float
    n: int
    name: str
    extra: dict = field(default_factory=dict)


def _angles(name: str, angles, min_n: int, what: str) -> np.ndarray:
    a = np.asarray(angles, dtype=float).ravel()
    a = a[np.isfinite(a)]
    if a.size < min_n:
        raise WaveInputError(
            f"{name} has {a.size} finite angle(s); {what} needs at least {min_n}. "
            "Collect more samples (recordings, epochs) or pool them."
        )
    return a


def circ_var(angles, axis=None) -> np.ndarray:
    """Circular variance ``V = 1 - R`` in [0, 1] (radians in; NaNs ignored).

    ``R`` is the mean resultant length. 0: all angles equal; 1: no preferred direction
    (Mardia & Jupp 2000, eq. 2.3.11).
    """
    return 1.0 - resultant_length(angles, axis=axis)


def circ_std(angles, axis=None) -> np.ndarray:
    """Circular standard deviation ``s0 = sqrt(-2 ln R)``, radians.

    Mardia & Jupp (2000) eq. 2.3.13; Zar (2010) eq. 26.21. Tends to the linear standard
    deviation for concentrated samples and to infinity as ``R -> 0``.
    """
    r = resultant_length(angles, axis=axis)
    with np.errstate(divide="ignore"):
        return np.sqrt(-2.0 * np.log(np.clip(r, 0.0, 1.0)))


def angular_deviation(angles, axis=None) -> np.ndarray:
    """Angular deviation ``s = sqrt(2 (1 - R))``, radians, in [0, sqrt(2)] (Zar eq. 26.20)."""
    return np.sqrt(2.0 * (1.0 - resultant_length(angles, axis=axis)))


def circ_kappa(r, n: int | None = None) -> float:
    """Maximum-likelihood von Mises concentration from a mean resultant length ``r``.

    Fisher's (1993, eq. 4.40) approximation to ``A1^{-1}(r)``; when ``n < 15`` the
    small-sample bias correction of Fisher (1993, eq. 4.41) is applied, as in Berens'
    ``circ_kappa``.
    """
    r = float(r)
    if r < 0.53:
        k = 2 * r + r**3 + 5 * r**5 / 6
    elif r < 0.85:
        k = -0.4 + 1.39 * r + 0.43 / (1 - r)
    elif r < 1:
        k = 1 / (r**3 - 4 * r**2 + 3 * r)
    else:
        return np.inf
    if n is not None and 1 < n < 15:
        k = max(k - 2 / (n * k), 0.0) if k < 2 else (n - 1) ** 3 * k / (n**3 + n)
    return float(k)


def rayleigh_test(angles) -> CircularTest:
    """Rayleigh test of uniformity against a unimodal alternative.

    Parameters
    ----------
    angles : array_like
        Directions, radians.

    Returns
    -------
    CircularTest
        ``statistic`` is Rayleigh's ``z = n R^2`` (``R``: mean resultant length);
        ``extra`` has ``r`` and ``mean`` (radians).

    Notes
    -----
    The p-value is Zar's (2010, eq. 27.4) small-sample approximation
    ``p = exp(sqrt(1 + 4 n + 4 (n^2 - Rn^2)) - (1 + 2 n))`` with ``Rn = n R``, accurate to
    about three decimals for ``n >= 5`` and used by Berens' ``circ_rtest``. Needs
    ``n >= 3``.

    References
    ----------
    Zar (2010), section 27.1 and Example 27.1.

    Examples
    --------
    Zar's Example 27.1 (eight trees' directions):

    >>> a = np.deg2rad([45, 55, 81, 96, 110, 117, 132, 154])
    >>> res = rayleigh_test(a)
    >>> round(res.statistic, 3), round(res.p_value, 4)
    (5.448, 0.0019)
    """
    a = _angles("angles", angles, 3, "the Rayleigh test")
    n = a.size
    r = float(resultant_length(a))
    rn = n * r
    p = np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - rn**2)) - (1 + 2 * n))
    return CircularTest(
        float(n * r**2),
        float(np.clip(p, 0.0, 1.0)),
        n,
        "rayleigh z",
        {"r": r, "mean": float(circ_mean(a))},
    )


def v_test(angles, mu) -> CircularTest:
    """V-test of uniformity against a unimodal alternative with known mean direction ``mu``.

    Parameters
    ----------
    angles : array_like
        Directions, radians.
    mu : float
        The expected mean direction, radians.

    Returns
    -------
    CircularTest
        ``statistic`` is ``V = Rn cos(mean - mu)`` (``Rn = n R``); ``extra["u"]`` is
        ``u = V sqrt(2 / n)``, whose upper tail under the null is standard normal for
        large ``n`` (one-sided p-value ``1 - Phi(u)``).

    References
    ----------
    Durand D, Greenwood JA (1958). J Geol 66, 229-238. Zar (2010), section 27.1(c) and
    Example 27.2; Berens (2009) ``circ_vtest``.
    """
    a = _angles("angles", angles, 3, "the V-test")
    n = a.size
    z = np.mean(np.exp(1j * a))
    v = n * float(np.abs(z)) * np.cos(float(np.angle(z)) - float(mu))
    u = v * np.sqrt(2.0 / n)
    return CircularTest(float(v), float(_st.norm.sf(u)), n, "V", {"u": float(u)})


def _groups(samples, min_each: int, what: str) -> list[np.ndarray]:
    if len(samples) == 1 and not all(np.isscalar(v) for v in samples[0]):
        samples = tuple(samples[0])  # one list of samples
    if len(samples) < 2:
        raise WaveInputError(f"{what} compares at least 2 samples, got {len(samples)}.")
    return [_angles(f"sample {i}", s, min_each, what) for i, s in enumerate(samples)]


def _ww_parts(groups):
    n_i = np.array([g.size for g in groups], float)
    r_i = np.array([np.abs(np.sum(np.exp(1j * g))) for g in groups])
    big_n = n_i.sum()
    r_all = np.abs(np.sum(np.exp(1j * np.concatenate(groups))))
    return n_i, r_i, big_n, r_all


def watson_williams_test(*samples) -> CircularTest:
    """Watson-Williams test that several samples share one mean direction.

    Parameters
    ----------
    *samples : array_like
        Two or more samples of directions, radians (or one list of samples).

    Returns
    -------
    CircularTest
        ``statistic`` is ``F`` with ``(k - 1, N - k)`` degrees of freedom; ``extra`` has
        ``kappa`` (pooled concentration), ``K`` (the correction factor) and ``r_w``.

    Notes
    -----
    ``F = K (N - k) (sum R_i - R) / ((k - 1) (N - sum R_i))`` with ``R_i`` the resultant
    lengths (not normalised) of the groups, ``R`` that of all angles together, and the
    correction ``K = 1 + 3 / (8 kappa)`` where ``kappa`` is the von Mises concentration
    of ``r_w = sum R_i / N`` (Fisher's approximation, :func:`circ_kappa`).

    The test assumes von Mises samples with a common concentration and is unreliable
    for ``r_w < 0.45`` (Zar 2010, section 27.4; Berens 2009 warns likewise); in that case
    ``extra["reliable"]`` is False and :func:`watson_williams_permutation` should be
    used. Each sample needs at least 2 angles.

    References
    ----------
    Watson GS, Williams EJ (1956). Biometrika 43, 344-352. Zar (2010), Examples 27.10 and
    27.11; Berens (2009) ``circ_wwtest``.
    """
    groups = _groups(samples, 2, "the Watson-Williams test")
    n_i, r_i, big_n, r_all = _ww_parts(groups)
    k = len(groups)
    if big_n <= k:
        raise WaveInputError(f"the Watson-Williams test needs more angles than groups ({k}).")
    rw = float(r_i.sum() / big_n)
    kappa = circ_kappa(rw)
    corr = 1 + 3 / (8 * kappa) if np.isfinite(kappa) and kappa > 0 else 1.0
    denom = big_n - r_i.sum()
    if denom <= 1e-12 * big_n:
        # every group is perfectly concentrated: the means either agree exactly or not.
        same = bool(r_all >= r_i.sum() * (1 - 1e-12))
        f_stat, p = (0.0, 1.0) if same else (np.inf, 0.0)
    else:
        f_stat = corr * (big_n - k) * (r_i.sum() - r_all) / ((k - 1) * denom)
        p = float(_st.f.sf(f_stat, k - 1, big_n - k))
    return CircularTest(
        float(f_stat),
        float(p),
        int(big_n),
        "Watson-Williams F",
        {"kappa": kappa, "K": corr, "r_w": rw, "reliable": rw >= 0.45},
    )


def watson_williams_permutation(*samples, n_permutations: int = 999, seed=0) -> CircularTest:
    """Permutation version of the Watson-Williams test (no von Mises assumption).

    The statistic ``sum R_i - R`` (how much the groups' resultants exceed the pooled
    one) is recomputed after shuffling the group labels; ``p = (1 + #{T* >= T}) /
    (1 + n_permutations)``, which is exact-valid under exchangeability (Good 2005,
    Permutation, Parametric and Bootstrap Tests of Hypotheses). Each sample needs at
    least 2 angles.

    Parameters
    ----------
    *samples : array_like
        Two or more samples of directions, radians.
    n_permutations : int
        Number of label shuffles.
    seed : int or numpy Generator
    """
    groups = _groups(samples, 2, "the Watson-Williams permutation test")
    _, r_i, big_n, r_all = _ww_parts(groups)
    obs = r_i.sum() - r_all
    z = np.exp(1j * np.concatenate(groups))
    labels = np.repeat(np.arange(len(groups)), [g.size for g in groups])
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.broadcast_to(labels, (n_permutations, labels.size)), axis=1)
    # resultant per group and permutation: (n_perm, k)
    sums = np.stack([np.abs(np.sum(np.where(perm == j, z, 0), axis=1)) for j in range(len(groups))])
    null = sums.sum(axis=0) - r_all
    tol = 1e-9 * max(big_n, 1.0)
    p = (1 + np.sum(null >= obs - tol)) / (1 + n_permutations)
    return CircularTest(
        float(obs), float(p), int(big_n), "sum R_i - R", {"n_permutations": n_permutations}
    )


def circ_linear_corr(angles, x) -> CircularTest:
    """Circular-linear correlation ``rho_cl`` between directions and a linear variable.

    Parameters
    ----------
    angles : array_like, shape (n,)
        Directions, radians.
    x : array_like, shape (n,)
        The linear variable (any unit).

    Returns
    -------
    CircularTest
        ``statistic`` is ``rho_cl`` in [0, 1].

    Notes
    -----
    With ``r_xc = corr(x, cos a)``, ``r_xs = corr(x, sin a)``, ``r_cs = corr(cos a,
    sin a)``: ``rho_cl^2 = (r_xc^2 + r_xs^2 - 2 r_xc r_xs r_cs) / (1 - r_cs^2)``
    (Mardia 1976; Zar 2010 eq. 27.47). Under independence ``n rho_cl^2`` is
    approximately chi-square with 2 degrees of freedom (Mardia & Jupp 2000, section
    11.2.1; Berens' ``circ_corrcl``). Pairs with a NaN are dropped; needs ``n >= 5``.

    References
    ----------
    Mardia KV (1976). Linear-circular correlation coefficients and rhythmometry.
    Biometrika 63, 403-405. Zar (2010), Example 27.21.
    """
    a, xv = _paired(angles, x, "angles", "x", 5, "circular-linear correlation")
    c, s = np.cos(a), np.sin(a)
    if np.ptp(xv) == 0:
        raise WaveInputError("x is constant: a correlation with it is undefined.")
    rxc = np.corrcoef(xv, c)[0, 1]
    rxs = np.corrcoef(xv, s)[0, 1]
    rcs = np.corrcoef(s, c)[0, 1]
    rho2 = (rxc**2 + rxs**2 - 2 * rxc * rxs * rcs) / (1 - rcs**2)
    rho = float(np.sqrt(np.clip(rho2, 0.0, 1.0)))
    n = a.size
    return CircularTest(rho, float(_st.chi2.sf(n * rho**2, 2)), n, "rho_cl")


def _paired(a, b, na, nb, min_n, what):
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    if a.shape != b.shape:
        raise WaveInputError(f"{na} and {nb} must have the same length, got {a.size} and {b.size}.")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_n:
        raise WaveInputError(
            f"{int(ok.sum())} complete pair(s) of {na} and {nb}; {what} needs at least {min_n}."
        )
    return a[ok], b[ok]


def circ_circ_corr(a, b, method: str = "fisher-lee", *, n_permutations: int = 999, seed=0):
    """Circular-circular correlation between two sets of paired directions (radians).

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Paired directions, radians.
    method : {"fisher-lee", "js"}
        ``"fisher-lee"``: Fisher & Lee's (1983) ``rho_T``,
        ``sum_{i<j} sin(a_i - a_j) sin(b_i - b_j) / sqrt(sum sin^2(a_i - a_j)
        sum sin^2(b_i - b_j))`` (Zar 2010, eq. 27.43), with a two-sided permutation
        p-value (``b`` shuffled against ``a``; Fisher & Lee 1983 recommend this for small
        samples; exact, over all ``n!`` orders, when ``n! <= n_permutations``).
        Computed in O(n) through ``sum_{i,j} sin(a_i - a_j) sin(b_i - b_j) =
        2 (S_ss S_cc - S_sc S_cs)`` with ``S_sc = sum sin a cos b`` etc.
        ``"js"``: Jammalamadaka & SenGupta's (2001, eq. 8.2.2)
        ``r = sum sin(a - a_bar) sin(b - b_bar) / sqrt(sum sin^2(a - a_bar) sum
        sin^2(b - b_bar))``, with their asymptotic normal test (Theorem 8.2.2):
        ``z = r sqrt(n l20 l02 / l22)``, ``l_ij = mean(sin^i(a - a_bar) sin^j(b - b_bar))``.
    n_permutations : int
        Shuffles of the Fisher-Lee permutation test.
    seed : int or numpy Generator

    Returns
    -------
    CircularTest
        ``statistic`` is the correlation in [-1, 1]; two-sided ``p_value``.
    """
    check_option("method", method, ("fisher-lee", "js"))
    a, b = _paired(a, b, "a", "b", 5 if method == "js" else 4, "circular-circular correlation")
    n = a.size
    if method == "js":
        sa = np.sin(a - circ_mean(a))
        sb = np.sin(b - circ_mean(b))
        den = np.sqrt(np.sum(sa**2) * np.sum(sb**2))
        if den == 0:
            raise WaveInputError("a or b has no spread: the correlation is undefined.")
        r = float(np.sum(sa * sb) / den)
        l20, l02, l22 = np.mean(sa**2), np.mean(sb**2), np.mean(sa**2 * sb**2)
        zs = r * np.sqrt(n * l20 * l02 / l22)
        return CircularTest(r, float(2 * _st.norm.sf(abs(zs))), n, "r_JS", {"z": float(zs)})
    rng = np.random.default_rng(seed)
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    den = np.sqrt(_fl_num(sa, ca, sa, ca) * _fl_num(sb, cb, sb, cb))
    if den == 0:
        raise WaveInputError("a or b has no spread: the correlation is undefined.")
    r = float(_fl_num(sa, ca, sb, cb) / den)
    if math.factorial(n) <= n_permutations:
        # every permutation once (the identity included): the exact p-value
        perm = np.array(list(permutations(range(n))))
        null = _fl_num(sa, ca, sb[perm], cb[perm]) / den
        p = np.mean(np.abs(null) >= abs(r) - 1e-12)
        n_perm, exact = len(perm), True
    else:
        perm = np.argsort(rng.random((n_permutations, n)), axis=1)
        null = _fl_num(sa, ca, sb[perm], cb[perm]) / den
        p = (1 + np.sum(np.abs(null) >= abs(r) - 1e-12)) / (1 + n_permutations)
        n_perm, exact = n_permutations, False
    return CircularTest(r, float(p), n, "rho_FL", {"n_permutations": n_perm, "exact": exact})


def _fl_num(sa, ca, sb, cb):
    """``sum_{i,j} sin(a_i - a_j) sin(b_i - b_j)`` (last axis), in O(n)."""
    sss = np.sum(sa * sb, axis=-1)
    scc = np.sum(ca * cb, axis=-1)
    ssc = np.sum(sa * cb, axis=-1)
    scs = np.sum(ca * sb, axis=-1)
    return 2 * (sss * scc - ssc * scs)
