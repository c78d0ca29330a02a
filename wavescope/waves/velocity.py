"""The velocity pipeline: from a field to speeds, directions, wavelengths and wave epochs.

:func:`measure_velocity` runs the phase route (band-pass and analytic signal in one FFT,
optional generalized phase, local phase gradients, PGD, per-sample plane fit, wave
epochs against phase-randomised surrogates, pattern classes) or one of the broadband
routes, and returns a :class:`VelocityResult` whose :meth:`~VelocityResult.summary` is
the stable JSON schema of ``wavescope velocity``.

The steps live in their own modules: :mod:`~wavescope.waves.inputs` (checks, band,
chunks), :mod:`~wavescope.waves.phase_route`, :mod:`~wavescope.waves.null` (the
no-propagation null and wave epochs), :mod:`~wavescope.waves.routes` (route choice,
broadband estimators, cross-check) and :mod:`~wavescope.waves.notes` (the summary's
warnings); the names they made public here are importable from here still.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField, release_pages
from wavescope.core.validate import (
    WaveInputError,
    check_band,
    check_band_record,
    check_int,
    check_nonnegative,
    check_open_unit,
    check_option,
)
from wavescope.signal.spectral import auto_decimation, band_spectrum, default_transition
from wavescope.space.gradient import gradient_operator
from wavescope.space.neighbours import find_neighbours, site_spacing
from wavescope.waves.inputs import (
    MAX_SURROGATES,
    _check_band_power,
    _check_readout,
    _chunks,
    auto_band,
    check_field,
    default_chunk_samples,
)
from wavescope.waves.measures import propagation_direction
from wavescope.waves.notes import FEW_EPOCHS, SELECTION_TOLERANCE
from wavescope.waves.null import (
    _wave_epochs,
    direction_persistence,
    lag_free_count,
    persistent_samples,
    window_estimates,
)
from wavescope.waves.phase_route import _concat_patterns, _phase_measures, _wavenumber
from wavescope.waves.result import VelocityResult
from wavescope.waves.routes import (
    BROADBAND_METHODS,
    METHODS,
    PHASE_METHODS,
    _phase_speed,
    _reported_route,
    _run_routes,
    choose_method,
    spectral_concentration,
)

__all__ = [
    "FEW_EPOCHS",
    "METHODS",
    "SELECTION_TOLERANCE",
    "VelocityResult",
    "auto_band",
    "check_field",
    "measure_velocity",
    "choose_method",
    "direction_persistence",
    "lag_free_count",
    "persistent_samples",
    "spectral_concentration",
    "window_estimates",
]


def measure_velocity(
    field: WaveField,
    band: tuple[float, float] | None = None,
    *,
    method: str = "auto",
    generalized: bool | None = None,
    decimate: int | None = None,
    alpha: float = 0.05,
    min_duration: float | None = None,
    n_surrogates: int | str = "auto",
    weights: str = "amplitude",
    patterns: bool = True,
    edge: float | None = None,
    chunk_samples: int | None = None,
    seed=0,
    debias: bool = True,
    null: str = "lag-free",
    broadband: dict | None = None,
    progress=None,
) -> VelocityResult:
    """Measure wave speed, direction, wavelength, PGD and wave epochs of a field.

    Parameters
    ----------
    field : WaveField
        The recording or hidden-state capture. 1-D or 2-D positions (project 3-D
        montages first, e.g. ``read_mne(..., projection="plane")``).
    band : (lo, hi), optional
        Pass band in cycles per ``time_unit`` (Hz). Default: :func:`auto_band`.
    method : {"auto", "phase-gradient", "circlinear", "event-time", "xcorr", "komega"}
        ``"auto"`` (default): the route right for the field (:func:`choose_method`: the
        k-omega ridge for model states and broadband fields on a line, event times for
        broadband fields on a surface, the phase gradient for narrowband oscillations),
        cross-checked by a second, independent estimator where one is cheap
        (``summary()["cross_check"]``); when the two disagree by more than
        :data:`~wavescope.waves.routes.AGREEMENT_TOLERANCE`, or a route's own
        diagnostics say it is unreliable (a wavelength under 4 spacings, too few sites
        reached, lags at the search edge), the summary says so in its ``warnings``, and
        the speed reported comes from the route that is valid.
        ``"phase-gradient"``: per-sample plane fit of the phase map initialised by the
        mean local gradient (weighted least squares over all good sites).
        ``"circlinear"``: per-sample circular-linear plane fit by grid search
        (Zhang et al. 2018). Broadband methods read delays from the samples (see
        :mod:`wavescope.waves.broadband`), band-passed first when ``band`` is given and
        unfiltered otherwise; PGD and epochs always come from the band.
    generalized : bool or None
        Use generalized phase (Davis et al. 2020), for wideband bands. None (default):
        False, unless the band comes from the field (below) with the reader's advice.
    decimate : int, optional
        Read-out step in samples (default: keep 4 samples per cycle of the band's top
        edge; 1 = every sample). The band-limited analytic signal is exact at every
        read-out sample.
    alpha : float
        False-positive rate per sample of the wave-epoch threshold.
    min_duration : float, optional
        Shortest wave epoch, in ``time_unit`` (default: one cycle of the band centre).
    n_surrogates : int or "auto"
        Phase-randomised surrogates for the PGD threshold (0: no epochs). ``"auto"``
        pools at least ``20 / alpha`` roughly independent null samples (about
        ``duration x band width`` per surrogate): 2 for 10 minutes in an 8-12 Hz band, up to 20
        for a few seconds. The lag-free null's persistence test draws at least as many
        lag-free surrogates, more on short records (:func:`lag_free_count`; the number
        used is in the summary's ``epochs``).
    weights : {"amplitude", "uniform"}
        Site weights in the plane fit: squared amplitude (optimal under additive noise)
        or uniform.
    patterns : bool
        Classify pattern classes (2-D layouts only).
    edge : float, optional
        Time (``time_unit``) at each end excluded from the summary as filter transient
        (default: 2 / narrowest band edge width, at most 10% of the record).
    chunk_samples : int, optional
        Longest piece of record (samples) filtered at once. Default
        (:func:`default_chunk_samples`): ``2**21`` samples, at most ``CHUNK_BYTES``
        (512 MB) of float64 over the good sites (262,144 samples for 256 sites), and at
        most ``n_sites * n_times / 128`` (75,000 samples for 16 sites x 600 s), so that
        the peak memory stays near 1.5 times the input's size.
        Longer records are processed in
        overlapping chunks (overlap: 4 / narrowest transition width, aligned to the
        read-out step) so that memory stays bounded. With a memory-mapped field
        (``read_npz(path, mmap=True)``) only one chunk is read at a time and its pages are
        released after use: peak memory is a few times one chunk, whatever the record's
        length. Per-sample outputs grow with the number of read-out samples only, never
        with sites x samples (the circular-linear fit runs chunk by chunk). The broadband
        methods (event-time, xcorr, komega) read the whole record.
    seed : int
        Seed of the surrogates.
    debias : bool
        Remove the noise bias of the wavenumber magnitude: noise adds its variance to
        ``|k|^2`` on average, which lowers speeds when the phase gradient is small
        (fast waves, small arrays, low SNR). The plane fit's own residual variance is
        used: ``|k| = sqrt(max(|k_hat|^2 - var_perp, 0))`` with ``var_perp`` the
        variance of ``k_hat`` across its direction (2-D layouts).
    null : {"lag-free", "phase-randomised"}
        The no-propagation null the PGD threshold of the wave epochs comes from.
        ``"lag-free"`` (default, :func:`~wavescope.signal.surrogates.lag_free_surrogate`):
        surrogates with the zero-lag spatial correlation of the data and its spectral
        continuum under the band filter (its lines left out,
        :func:`~wavescope.waves.null._null_profile`) but no delays between sites, so that
        smooth noise, synchronous oscillations and standing waves stay below the threshold
        at the rate ``alpha``.
        ``"phase-randomised"``: independent phases per site (destroys spatial correlation:
        any smooth field passes; kept for comparison).
    broadband : dict, optional
        Options of the broadband method (:func:`~wavescope.waves.broadband.event_time_velocity`:
        ``threshold``, ``min_sites``, ``kind``, ``polarity``, ``max_gap``, ``min_r2``;
        :func:`~wavescope.waves.broadband.xcorr_velocity`: ``max_lag`` (samples),
        ``max_distance``; :func:`~wavescope.waves.broadband.komega_velocity`:
        ``speed_range``, ``pad``, ``min_power``). A given ``max_lag`` replaces the
        band-based default.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.

    Returns
    -------
    VelocityResult
    """
    check_option("method", method, ("auto",) + METHODS)
    check_option("null", null, ("lag-free", "phase-randomised"))
    requested = method
    check_option("weights", weights, ("amplitude", "uniform"))
    alpha = check_open_unit("alpha (CLI: --alpha)", alpha, " (false-positive rate)")
    if decimate is not None:
        decimate = check_int("decimate (samples)", decimate, minimum=1, cli="--decimate")
    if edge is not None:
        edge = check_nonnegative("edge", edge, unit=f" ({field.time_unit})")
    if min_duration is not None:
        min_duration = check_nonnegative("min_duration", min_duration, unit=f" ({field.time_unit})")
    if field.n_dims > 2:
        raise WaveInputError(
            "positions are 3-D; project them onto a surface first "
            "(wavescope.io.project_positions, or read_mne(..., projection='plane'))."
        )
    good = check_field(field, min_sites=field.n_dims + 1)
    band_source = "given" if band is not None else "automatic (spectral peak)"
    if band is None and field.meta.get("analysis_band") is not None:
        # a reader's documented band for this kind of recording (widefield: 0.1-5 Hz)
        band = tuple(field.meta["analysis_band"])
        band_source = str(field.meta.get("analysis_band_reason") or "the recording's own band")
        if generalized is None:
            generalized = bool(field.meta.get("analysis_generalized", False))
    generalized = bool(generalized)
    band_given = band is not None
    band = auto_band(field) if band is None else check_band(band, field.fs, field.time_unit)
    reason = "given"
    if method == "auto":
        method, reason = choose_method(field, good, band_given=band_given)
    check_band_record(band, field.duration, field.time_unit)
    transition = default_transition(band, field.fs)
    D = auto_decimation(field.fs, band, transition) if decimate is None else decimate
    _check_readout(D, band, transition, field)
    _check_band_power(field, band, good)
    if isinstance(n_surrogates, str) and n_surrogates == "auto":
        independent = max(field.duration * (band[1] - band[0]), 1.0)
        n_surrogates = int(np.clip(np.ceil(20 / alpha / independent), 2, 20))
    elif (
        isinstance(n_surrogates, (bool, np.bool_))
        or not isinstance(n_surrogates, (int, np.integer))
        or not 0 <= n_surrogates <= MAX_SURROGATES
    ):
        raise WaveInputError(
            f"n_surrogates (CLI: --n-surrogates) must be an integer in [0, {MAX_SURROGATES}] "
            f"or 'auto', got {n_surrogates!r}."
        )
    pos = field.positions[good]
    nb = find_neighbours(pos)
    op = gradient_operator(nb)
    rng = np.random.default_rng(seed)

    pieces = []
    if chunk_samples is None:
        chunk_samples = default_chunk_samples(len(good), field.n_times)
    elif not isinstance(chunk_samples, (int, np.integer)) or chunk_samples < 1:
        raise WaveInputError(f"chunk_samples must be a positive integer, got {chunk_samples!r}.")
    if edge is None:
        edge = min(
            2.0 / min(w for w in transition if w > 0) if any(transition) else 0.0,
            0.1 * field.duration,
        )
    fs_out = field.fs / D
    n_frames = int(np.clip(np.ceil(2.0 * fs_out / np.mean(band)), 8, 48))
    # a wave keeps its direction for longer than the band's coherence time; the lag-free
    # surrogates (no propagation, the data's spatial correlation) set how persistent a
    # direction gets by chance
    window = int(np.ceil(2.0 / (band[1] - band[0]) * fs_out))
    n_valid_out = max(0.0, field.n_times - 2 * edge * field.fs) / D
    n_lag_free = (
        lag_free_count(n_surrogates, -(-field.n_times // D), window, n_valid_out, alpha)
        if n_surrogates > 0 and null == "lag-free"
        else 0
    )
    for lo, hi, core_lo, core_hi in _chunks(field.n_times, chunk_samples, D, field.fs, transition):
        spec = band_spectrum(
            field.data[:, lo:hi], field.fs, band, transition=transition, decimate=D, sites=good
        )
        release_pages(field.data)
        out_lo = core_lo // D  # global read-out index of the chunk's first kept sample
        n_kept = -(-(core_hi - lo) // D) - (core_lo - lo) // D
        idx = (out_lo + np.arange(n_kept)) * D
        chunk_valid = (idx >= edge * field.fs) & (idx < field.n_times - edge * field.fs)
        pieces.append(
            _phase_measures(
                spec,
                D,
                pos,
                nb,
                op,
                weights,
                generalized,
                rng,
                n_surrogates,
                field.n_dims,
                patterns,
                (core_lo - lo) // D,
                -(-(core_hi - lo) // D),
                method == "circlinear",
                chunk_valid,
                n_frames,
                out_lo,
                n_lag_free,
                band,
                transition,
            )
        )
        if progress is not None:
            progress(core_hi, field.n_times)
    skip = ("pat", "snap")
    if n_surrogates == 0 or null != "lag-free":
        skip += ("lf_pgd", "lf_dir")
    out = {k: np.concatenate([p[k] for p in pieces], axis=-1) for k in pieces[0] if k not in skip}
    n_out = out["pgd"].shape[-1]
    index = np.arange(n_out) * D
    valid = (index >= edge * field.fs) & (index < field.n_times - edge * field.fs)
    g = out["grad"]
    k = -g
    kmag = _wavenumber(g, out["gvar"] if debias else None)
    with np.errstate(divide="ignore"):
        speed = np.abs(2 * np.pi * out["freq"]) / kmag
        wl = 2 * np.pi / kmag
    direction = propagation_direction(g)
    fit = out["fit"]

    pattern_res = None
    if patterns and field.n_dims == 2 and len(good) >= 4:
        pattern_res = _concat_patterns([p["pat"] for p in pieces])

    if method == "circlinear":
        # fitted chunk by chunk in _phase_measures (each sample's fit is independent), so
        # no (sites x samples) phase is kept
        g = out["cl_grad"]
        k = -g
        with np.errstate(divide="ignore", invalid="ignore"):  # synchronous: infinite speed
            speed = np.abs(2 * np.pi * out["freq"]) / np.linalg.norm(g, axis=0)
            wl = 2 * np.pi / np.linalg.norm(g, axis=0)
        direction = propagation_direction(g)
        fit = out["cl_rho"]

    threshold, wave, epochs = np.nan, np.zeros(n_out, bool), np.empty((0, 2), int)
    epoch_stats, windows = {}, None
    if n_surrogates > 0:
        threshold, wave, epochs, windows, epoch_stats = _wave_epochs(
            out, k, valid, band, fs_out, alpha, min_duration, window, n_lag_free, pattern_res
        )

    spacing = site_spacing(pos) if len(pos) >= 2 else None
    # the phase route's reported speed: the median of the per-epoch window estimates
    # when there are wave epochs (what the summary prints), else of all valid samples
    if windows is not None and np.isfinite(np.asarray(windows["speed"], float)).any():
        phase_summary_speed = float(np.nanmedian(np.asarray(windows["speed"], float)))
    else:
        phase_summary_speed = _phase_speed(speed, valid & (wave if wave.any() else True))
    # model states chosen for k-omega keep their delays unfiltered: an impulse response is
    # broadband, and band-passing a state that does not travel (Mamba's decaying modes)
    # rings into a spurious ridge; the band still sets PGD and the wave epochs
    filter_delays = band_given and not (requested == "auto" and field.time_unit == "step")
    bb_opts = {"band": band, "filter_delays": filter_delays, "options": broadband}
    route, check, bb = _run_routes(
        field, method, requested, len(good), wl[valid], spacing, phase_summary_speed, bb_opts
    )
    reported, bb, notes = _reported_route(field, method, route, check, bb, bb_opts)
    est_speed, est_dir, est_wl = speed, direction, wl
    if reported in BROADBAND_METHODS:
        est_speed = np.asarray(bb.speeds, float)
        est_dir = np.asarray(bb.directions, float)
        est_wl = np.full(est_speed.shape, np.nan)
        # a check that disagrees casts doubt when it is valid, or (automatic route) when
        # it searched wide enough and its lags follow no linear delay at all: Mamba's
        # decaying modes gave k-omega ridges at 0.05-0.4 sites/step whose xcorr lags fit
        # a plane with R^2 0.00-0.07. A check limited by its own search (lags at its
        # edge) casts none.
        contradicts = check is not None and check["agree"] is False
        if contradicts and not check["valid"]:
            contradicts = requested == "auto" and not check["inconclusive"]
        doubtful = bool(route[reported]) or contradicts
        if n_surrogates > 0 and not wave.any() and doubtful:
            # no organised, persistent phase anywhere, and the delay estimators do not
            # confirm each other: there is no travelling wave to give a speed to
            est_speed = np.full(est_speed.shape, np.nan)
            est_dir = np.full(est_dir.shape, np.nan)
            notes.append(
                "no travelling wave found: the phase route finds no wave epoch and the delay "
                "estimators do not confirm each other, so no speed is reported."
            )
    if check is not None:
        check = {k: v for k, v in check.items() if k != "bb"}
    choice = {"requested": requested, "chosen": method, "reason": reason, "reported": reported}
    method = reported

    snaps = [p["snap"] for p in pieces if p["snap"] is not None]
    snapshot = max(snaps, key=lambda s: s[0])[1] if snaps else None
    return VelocityResult(
        method=method,
        fs=field.fs,
        fs_out=fs_out,
        index=index,
        valid=valid,
        speed=est_speed,
        direction=est_dir,
        wavelength=est_wl,
        phase_speed=speed,
        phase_direction=direction,
        phase_wavelength=wl,
        frequency=out["freq"],
        pgd=out["pgd"],
        fit=fit,
        wavevector=k.T,
        wave=wave,
        epochs=epochs,
        threshold=float(threshold),
        alpha=alpha,
        band=band,
        space_unit=field.space_unit,
        time_unit=field.time_unit,
        n_sites=field.n_sites,
        n_good=len(good),
        n_dims=field.n_dims,
        spacing=spacing,
        extent=field.extent,
        duration=field.duration,
        patterns=pattern_res,
        broadband=bb,
        snapshot=snapshot,
        windows=windows,
        extra={
            "generalized_phase": generalized,
            "band_source": band_source,
            "weights": weights,
            "decimate": D,
            "edge": float(edge),
            "layout": nb.kind,
            "null": null,
            **epoch_stats,
            "method_choice": choice,
            "band_role": "phase, PGD and wave epochs"
            if method in PHASE_METHODS
            else (
                "delays and PGD"
                if filter_delays
                else "PGD and wave epochs only (delays unfiltered)"
            ),
            "cross_check": check,
            "route_problems": {k: v for k, v in route.items() if v},
            "route_warnings": notes,
        },
    )
