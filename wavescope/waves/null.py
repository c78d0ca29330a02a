"""The no-propagation null and the wave epochs it sets.

Wave epochs are samples whose PGD exceeds that of phase-randomised surrogates and (the
lag-free null, the default) whose direction persists longer than in surrogates that keep
the data's zero-lag spatial correlation and spectral continuum but have no delays
between sites; each epoch's speed comes from its windows' mean wavevectors
(:func:`window_estimates`).
"""

from __future__ import annotations

import numpy as np

from wavescope.core.results import finite_or_none
from wavescope.core.validate import WaveInputError
from wavescope.signal.spectral import band_weights, spectral_continuum
from wavescope.waves.epochs import find_epochs, null_threshold

__all__ = [
    "direction_persistence",
    "lag_free_count",
    "persistence_scales",
    "persistent_samples",
    "window_estimates",
]

#: Window of the running percentile that gives the lag-free null its spectrum, as a
#: fraction of the band's width (:func:`wavescope.signal.spectral.spectral_continuum`) ...
CONTINUUM_WIDTH = 0.25


#: ... and at least this many frequency resolutions (1 / record length) of the record, so
#: that a line's main lobe and strongest leakage fill under a fifth of the window.
CONTINUUM_CELLS = 10


#: Longest window of one speed estimate inside a wave epoch, in coherence times of the
#: band (1 / band width): long enough for noise to average out of the mean wavevector.
ESTIMATE_WINDOW = 16.0


#: Window lengths of the persistence test, in multiples of its shortest window.
PERSISTENCE_SCALES = (1, 2, 4, 8, 16)


#: Most lag-free surrogates measure_velocity draws for the persistence test.
MAX_LAG_FREE = 100


def _null_profile(spec, band, transition) -> np.ndarray:
    """Power per bin of the lag-free surrogates: the filter's gain times the continuum of
    the data's spectrum under it (its lines left out), the filter's alone where the data
    have no continuum (a noise-free oscillation)."""
    g2 = band_weights(spec.freqs, band, transition) ** 2
    inside = g2 > 0.25
    power = np.mean(np.abs(spec.coef) ** 2, axis=0)
    if inside.sum() < 3:
        return g2
    width = max(CONTINUUM_WIDTH * (band[1] - band[0]), CONTINUUM_CELLS * spec.fs / spec.n_times)
    f_in = spec.freqs[inside]
    cont = spectral_continuum(power[inside] / g2[inside], f_in, width)
    if not np.any(cont > 0):
        return g2
    return g2 * np.interp(spec.freqs, f_in, cont)


def persistence_scales(window: int, n_out: int) -> list[int]:
    """Multiples of ``window`` the persistence test uses: those no longer than half the
    record of ``n_out`` read-out samples (the shortest always)."""
    return [m for m in PERSISTENCE_SCALES if window * m <= max(n_out // 2, window)]


def lag_free_count(n_surrogates: int, n_out: int, window: int, n_valid: float, alpha: float) -> int:
    """Lag-free surrogates the persistence test needs: at least ``n_surrogates``.

    At each scale of :func:`persistent_samples` the threshold is the ``1 - alpha /
    n_scales`` quantile of the surrogates' statistic, and neighbouring windows of the
    longest scale are nearly the same sample: the surrogates must hold about
    ``n_scales / alpha`` such windows, or the quantile sits among the few largest values
    and is exceeded more often than its level (smooth noise passed in 7% of its samples
    with 5 surrogates of 20 s and in 3.8% with 40, at alpha 0.05). Short records so get
    more surrogates, up to :data:`MAX_LAG_FREE`; long records hold enough windows in
    ``n_surrogates``.
    """
    scales = persistence_scales(window, n_out)
    per_surrogate = max(n_valid / (window * max(scales)), 1e-9)
    need = int(np.ceil(len(scales) / alpha / per_surrogate))
    return int(np.clip(need, n_surrogates, max(n_surrogates, MAX_LAG_FREE)))


def persistent_samples(vectors, null_vectors, window: int, alpha: float, valid):
    """Samples whose direction persists beyond what lag-free surrogates reach, at any scale.

    :func:`direction_persistence` is computed over windows of ``window * m`` samples for
    ``m`` in :data:`PERSISTENCE_SCALES` (windows longer than half the record left out); at
    each scale the threshold is the ``1 - alpha / n_scales`` quantile of the same
    statistic on the lag-free surrogates (Bonferroni over the scales), and a sample is
    persistent when it passes at some scale. A burst of a few cycles passes at the short
    scales; a wave that lasts is found at the long ones, where a superposition of
    opposite waves (the null) has changed its dominant direction many times over. The
    false-positive rate per sample stays at most ``alpha`` on a field without
    propagation.

    Returns
    -------
    persistent : ndarray of bool (T,)
    threshold : float
        The threshold at the shortest scale (for the summary).
    """
    persistent, first, _ = _persistence(vectors, null_vectors, window, alpha, valid)
    return persistent, first


def _persistence(vectors, null_vectors, window: int, alpha: float, valid):
    """:func:`persistent_samples`, and the same test applied to each surrogate (n, T)."""
    T = vectors.shape[-1]
    scales = persistence_scales(window, T)
    q = 1 - alpha / len(scales)
    out = np.zeros(T, bool)
    null_out = np.zeros((len(null_vectors), T), bool)
    first = np.nan
    for m in scales:
        w = window * m
        r = direction_persistence(vectors, w)
        null_r = np.stack([direction_persistence(v, w) for v in null_vectors])
        null = null_r[:, valid].ravel()
        if null.size == 0:  # every sample lies in the edges left out
            raise WaveInputError(
                "no sample is left for the wave-epoch null once the edges "
                "are left out; use a longer record or a smaller edge=."
            )
        thr = float(np.quantile(null, q))
        if m == scales[0]:
            first = thr
        out |= r > thr
        null_out |= null_r > thr
    return out, first, null_out


def direction_persistence(vectors: np.ndarray, window: int) -> np.ndarray:
    """``R(t) = |mean of v over the window centred on t|`` per read-out sample.

    ``vectors`` (d, T) are directionality vectors (the direction of propagation with the
    PGD as length, :func:`_directionality_vector`); ``window`` in samples (at least 1).
    ``R`` is high only where the field keeps one direction, with organised phase maps,
    for the whole window; the window is clipped at the record's ends.
    """
    v = np.asarray(vectors, np.float64)
    T = v.shape[-1]
    w = int(max(1, window))
    cum = np.concatenate([np.zeros(v.shape[:-1] + (1,)), np.cumsum(v, axis=-1)], axis=-1)
    t = np.arange(T)
    lo = np.clip(t - w // 2, 0, T)
    hi = np.clip(lo + w, 0, T)
    lo = np.clip(hi - w, 0, T)
    sums = cum[..., hi] - cum[..., lo]
    return np.linalg.norm(sums, axis=-2) / np.maximum(hi - lo, 1)


def _directionality_vector(grad_local: np.ndarray) -> np.ndarray:
    """Per sample, ``-mean_i g_i / mean_i |g_i|`` (d, T): the direction of propagation with
    the PGD as its length (0 where undefined), so disorganised samples weigh little."""
    g = np.asarray(grad_local, np.float64)
    ok = np.all(np.isfinite(g), axis=0)  # (n, T)
    g0 = np.where(ok, g, 0.0)
    cnt = np.maximum(ok.sum(axis=0), 1)
    mean_vec = g0.sum(axis=1) / cnt
    mean_mag = np.sqrt(np.einsum("dnt,dnt->nt", g0, g0)).sum(axis=0) / cnt
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(mean_mag > 0, -mean_vec / mean_mag, 0.0)
    return np.nan_to_num(v)


def window_estimates(wavevector, frequency, epochs, window: int) -> dict:
    """Speed, direction and wavelength of each window of the wave epochs.

    Each epoch is one window, or, when longer than ``window`` read-out samples, is cut
    into consecutive windows of about that length. In
    a window the plane-fit wavevectors are averaged as vectors, ``k = mean_t k(t)``, and
    ``speed = 2 pi f / |k|`` with ``f`` the window's median frequency. Noise in the phase
    maps, white or spatially smooth, tilts each sample's wavevector at random; averaged
    as vectors the tilts cancel, whereas they add to every sample's ``|k|`` (so the median
    of per-sample speeds reads slow) -- the epoch's wave keeps its wavevector.

    Parameters
    ----------
    wavevector : ndarray (T, d)
        Per-sample wavevectors, radians per space unit.
    frequency : ndarray (T,)
        Cycles per time unit.
    epochs : ndarray (n, 2)
        ``[start, stop)`` of the wave epochs.
    window : int
        Longest window, read-out samples (:data:`ESTIMATE_WINDOW` coherence times of the
        band in :func:`measure_velocity`).

    Returns
    -------
    dict
        ``speed``, ``direction``, ``wavelength``, ``start``, ``stop`` arrays, one entry
        per window.
    """
    k = np.asarray(wavevector, np.float64)
    f = np.abs(np.asarray(frequency, np.float64))
    w = max(1, int(window))
    starts, stops = [], []
    for a, b in np.asarray(epochs, int).reshape(-1, 2):
        n = max(1, int(np.ceil((b - a) / w)))
        edges = np.linspace(a, b, n + 1).round().astype(int)
        starts += edges[:-1].tolist()
        stops += edges[1:].tolist()
    sp, di, wl = [], [], []
    for a, b in zip(starts, stops):
        kk = k[a:b]
        kk = kk[np.all(np.isfinite(kk), axis=1)]
        ff = f[a:b][np.isfinite(f[a:b])]
        if not len(kk) or not ff.size:
            sp.append(np.nan), di.append(np.nan), wl.append(np.nan)
            continue
        km = kk.mean(axis=0)
        mag = float(np.linalg.norm(km))
        with np.errstate(divide="ignore"):
            sp.append(2 * np.pi * float(np.median(ff)) / mag)
            wl.append(2 * np.pi / mag)
        di.append(
            float(np.arctan2(km[1], km[0])) if len(km) > 1 else (0.0 if km[0] >= 0 else np.pi)
        )
    return {
        "speed": np.asarray(sp, float),
        "direction": np.asarray(di, float),
        "wavelength": np.asarray(wl, float),
        "start": np.asarray(starts, int),
        "stop": np.asarray(stops, int),
    }


def _wave_epochs(out, k, valid, band, fs_out, alpha, min_duration, window, n_lag_free, pats):
    """Wave epochs of the phase measures: PGD above its null for at least ``min_duration``
    and (lag-free null) a direction that persists; their window estimates and statistics.

    Returns ``(threshold, wave, epochs, windows, epoch_stats)``; relabels the pattern
    classes ``pats`` in place (no "synchronous" inside a wave epoch).
    """
    threshold = null_threshold(out["null_pgd"], alpha)
    min_dur = 1.0 / np.mean(band) if min_duration is None else float(min_duration)
    min_n = int(np.ceil(min_dur * fs_out))
    organised, candidates = find_epochs(out["pgd"], threshold, min_n, valid)
    wave = organised
    persistence_threshold, null_fraction = np.nan, None
    if n_lag_free:
        persistent, persistence_threshold, null_persistent = _persistence(
            out["direction_vector"], out["lf_dir"], window, alpha, valid
        )
        wave = organised & persistent
        fractions = [
            _wave_fraction(find_epochs(pgd, threshold, min_n, valid)[0] & pers, min_n, valid)
            for pgd, pers in zip(out["lf_pgd"], null_persistent)
        ]
        null_fraction = float(np.quantile(fractions, 1 - alpha, method="higher"))
    wave, epochs = find_epochs(wave.astype(float), 0.5, min_n, valid)
    if pats is not None:
        # inside a wave epoch the phases advance across the array with a persistent
        # direction: nearly equal phases there mean a wavelength longer than the array,
        # not synchronous activity, so the classes never contradict the wave fraction
        labels = pats.labels.copy()
        labels[wave & (labels == "synchronous")] = "planar"
        pats.labels = labels
    windows = window_estimates(
        k.T, out["freq"], epochs, int(np.ceil(ESTIMATE_WINDOW / (band[1] - band[0]) * fs_out))
    )
    stats = {
        "organised_fraction": float(np.sum(organised & valid) / max(int(valid.sum()), 1)),
        "n_organised_epochs": int(len(candidates)),
        "persistence_threshold": finite_or_none(persistence_threshold),
        "n_lag_free_surrogates": int(n_lag_free),
        "null_wave_fraction": null_fraction,
    }
    return threshold, wave, epochs, windows, stats


def _wave_fraction(candidate, min_n: int, valid) -> float:
    """Share of the valid samples in runs of ``candidate`` at least ``min_n`` long."""
    wave, _ = find_epochs(candidate.astype(float), 0.5, min_n, valid)
    return float(np.sum(wave & valid) / max(int(np.sum(valid)), 1))
