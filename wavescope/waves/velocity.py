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

from dataclasses import dataclass, replace

import numpy as np

from wavescope.core.circular import circ_mean
from wavescope.core.field import WaveField
from wavescope.core.validate import (
    WaveInputError,
    check_band,
    check_band_record,
    check_int,
    check_nonnegative,
    check_open_unit,
    check_option,
)
from wavescope.signal.spectral import auto_decimation, default_transition
from wavescope.space.gradient import gradient_operator
from wavescope.space.neighbours import find_neighbours, site_spacing
from wavescope.waves.coherent import coherent_velocity
from wavescope.waves.inputs import (
    MAX_SURROGATES,
    _check_band_power,
    _check_readout,
    auto_band,
    check_field,
    default_chunk_samples,
)
from wavescope.waves.notes import FEW_EPOCHS, SELECTION_TOLERANCE
from wavescope.waves.null import (
    _wave_epochs,
    direction_persistence,
    lag_free_count,
    persistent_samples,
    window_estimates,
)
from wavescope.waves.phase_route import PhaseSetup, per_sample_estimates, phase_pass
from wavescope.waves.result import VelocityResult
from wavescope.waves.routes import (
    BROADBAND_METHODS,
    COHERENT_HEADLINE,
    METHODS,
    PhaseEvidence,
    RouteInput,
    _band_role,
    choose_method,
    delays_filtered,
    settle_route,
    spectral_concentration,
)

__all__ = [
    "FEW_EPOCHS",
    "METHODS",
    "MeasureOptions",
    "SELECTION_TOLERANCE",
    "VelocityResult",
    "auto_band",
    "check_field",
    "measure_velocity",
    "measure_with",
    "choose_method",
    "direction_persistence",
    "lag_free_count",
    "persistent_samples",
    "spectral_concentration",
    "window_estimates",
]


@dataclass(frozen=True)
class MeasureOptions:
    """The options of :func:`measure_velocity`, one object (each documented there).

    ``MeasureOptions(band=(8, 12), n_surrogates=10)`` and
    ``measure_velocity(field, (8, 12), n_surrogates=10)`` measure the same;
    :func:`measure_with` takes this object.
    """

    band: tuple[float, float] | None = None
    method: str = "auto"
    generalized: bool | None = None
    decimate: int | None = None
    alpha: float = 0.05
    min_duration: float | None = None
    n_surrogates: int | str = "auto"
    weights: str = "amplitude"
    patterns: bool = True
    edge: float | None = None
    chunk_samples: int | None = None
    seed: object = 0
    debias: bool = True
    null: str = "lag-free"
    broadband: dict | None = None


@dataclass(frozen=True)
class _Plan:
    """The settled options of one measurement: checked, with every default resolved
    (read-out samples per ``time_unit``: ``fs_out``; ``window``: shortest persistence
    window, read-out samples)."""

    good: np.ndarray
    band: tuple[float, float]
    band_source: str
    band_given: bool
    generalized: bool
    requested: str
    method: str
    reason: str
    transition: tuple[float, float]
    decimate: int
    alpha: float
    n_surrogates: int
    n_lag_free: int
    window: int
    chunk_samples: int
    edge: float
    fs_out: float


def _surrogate_count(n_surrogates, field: WaveField, band, alpha: float) -> int:
    if isinstance(n_surrogates, str) and n_surrogates == "auto":
        independent = max(field.duration * (band[1] - band[0]), 1.0)
        return int(np.clip(np.ceil(20 / alpha / independent), 2, 20))
    if (
        isinstance(n_surrogates, (bool, np.bool_))
        or not isinstance(n_surrogates, (int, np.integer))
        or not 0 <= n_surrogates <= MAX_SURROGATES
    ):
        raise WaveInputError(
            f"n_surrogates (CLI: --n-surrogates) must be an integer in [0, {MAX_SURROGATES}] "
            f"or 'auto', got {n_surrogates!r}."
        )
    return int(n_surrogates)


def _check_options(field: WaveField, o: MeasureOptions) -> MeasureOptions:
    """Options checked one by one (before the field is read), numbers as their types."""
    check_option("method", o.method, ("auto",) + METHODS)
    check_option("null", o.null, ("lag-free", "phase-randomised"))
    check_option("weights", o.weights, ("amplitude", "uniform"))
    changes = {"alpha": check_open_unit("alpha (CLI: --alpha)", o.alpha, " (false-positive rate)")}
    if o.decimate is not None:
        changes["decimate"] = check_int(
            "decimate (samples)", o.decimate, minimum=1, cli="--decimate"
        )
    unit = f" ({field.time_unit})"
    for name in ("edge", "min_duration"):
        if getattr(o, name) is not None:
            changes[name] = check_nonnegative(name, getattr(o, name), unit=unit)
    if field.n_dims > 2:
        raise WaveInputError(
            "positions are 3-D; project them onto a surface first "
            "(wavescope.io.project_positions, or read_mne(..., projection='plane'))."
        )
    return replace(o, **changes)


def _band_of(field: WaveField, o: MeasureOptions) -> tuple:
    """``(band, source, given, generalized)``: the band given, else the reader's documented
    band for this kind of recording (widefield: 0.1-5 Hz, with its advice on generalized
    phase), else the dominant spectral peak (:func:`auto_band`)."""
    band, generalized = o.band, o.generalized
    source = "given" if band is not None else "automatic (spectral peak)"
    if band is None and field.meta.get("analysis_band") is not None:
        band = tuple(field.meta["analysis_band"])
        source = str(field.meta.get("analysis_band_reason") or "the recording's own band")
        if generalized is None:
            generalized = bool(field.meta.get("analysis_generalized", False))
    given = band is not None
    band = auto_band(field) if band is None else check_band(band, field.fs, field.time_unit)
    return band, source, given, bool(generalized)


def _plan(field: WaveField, o: MeasureOptions) -> _Plan:
    """Check the options against the field and resolve every default (before any
    transform): the band, the route, the read-out step, the surrogates, the chunks."""
    good = check_field(field, min_sites=field.n_dims + 1)
    band, band_source, band_given, generalized = _band_of(field, o)
    method, reason = o.method, "given"
    if method == "auto":
        method, reason = choose_method(field, good, band=band if band_given else None)
    check_band_record(band, field.duration, field.time_unit)
    transition = default_transition(band, field.fs)
    D = auto_decimation(field.fs, band, transition) if o.decimate is None else o.decimate
    _check_readout(D, band, transition, field)
    _check_band_power(field, band, good)
    n_surrogates = _surrogate_count(o.n_surrogates, field, band, o.alpha)
    chunk = o.chunk_samples
    if chunk is None:
        chunk = default_chunk_samples(len(good), field.n_times)
    elif not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise WaveInputError(f"chunk_samples must be a positive integer, got {chunk!r}.")
    edge = o.edge
    if edge is None:
        widest = 2.0 / min(w for w in transition if w > 0) if any(transition) else 0.0
        edge = min(widest, 0.1 * field.duration)
    # a wave keeps its direction for longer than the band's coherence time; the lag-free
    # surrogates (no propagation, the data's spatial correlation) set how persistent a
    # direction gets by chance
    window = int(np.ceil(2.0 / (band[1] - band[0]) * field.fs / D))
    n_lag_free = 0
    if n_surrogates > 0 and o.null == "lag-free":
        n_valid_out = max(0.0, field.n_times - 2 * edge * field.fs) / D
        n_read = -(-field.n_times // D)
        n_lag_free = lag_free_count(n_surrogates, n_read, window, n_valid_out, o.alpha)
    return _Plan(
        good=good,
        band=band,
        band_source=band_source,
        band_given=band_given,
        generalized=generalized,
        requested=o.method,
        method=method,
        reason=reason,
        transition=transition,
        decimate=D,
        alpha=o.alpha,
        n_surrogates=n_surrogates,
        n_lag_free=n_lag_free,
        window=window,
        chunk_samples=int(chunk),
        edge=float(edge),
        fs_out=field.fs / D,
    )


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
        broadband fields on a surface, the phase gradient for narrowband oscillations and
        a given ``band``, unless it spans an octave or more on a broadband transient),
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
    return measure_with(
        field,
        MeasureOptions(
            band=band,
            method=method,
            generalized=generalized,
            decimate=decimate,
            alpha=alpha,
            min_duration=min_duration,
            n_surrogates=n_surrogates,
            weights=weights,
            patterns=patterns,
            edge=edge,
            chunk_samples=chunk_samples,
            seed=seed,
            debias=debias,
            null=null,
            broadband=broadband,
        ),
        progress=progress,
    )


def measure_with(field: WaveField, options: MeasureOptions, *, progress=None) -> VelocityResult:
    """:func:`measure_velocity` with its options in one :class:`MeasureOptions`."""
    options = _check_options(field, options)
    p = _plan(field, options)
    pos = field.positions[p.good]
    nb = find_neighbours(pos)
    fs_out, band = p.fs_out, p.band
    setup = PhaseSetup(
        band=band,
        transition=p.transition,
        decimate=p.decimate,
        positions=pos,
        neighbours=nb,
        operator=gradient_operator(nb),
        weights=options.weights,
        generalized=p.generalized,
        n_surrogates=p.n_surrogates,
        n_lag_free=p.n_lag_free,
        patterns=options.patterns,
        circlinear=p.method == "circlinear",
        n_frames=int(np.clip(np.ceil(2.0 * fs_out / np.mean(band)), 8, 48)),
    )
    rng = np.random.default_rng(options.seed)
    ph = phase_pass(field, p.good, setup, p.chunk_samples, p.edge, rng, progress)
    out = ph.measures
    n_out = out["pgd"].shape[-1]
    index = np.arange(n_out) * p.decimate
    valid = (index >= p.edge * field.fs) & (index < field.n_times - p.edge * field.fs)
    est = per_sample_estimates(out, circlinear=p.method == "circlinear", debias=options.debias)
    threshold, wave, epochs = np.nan, np.zeros(n_out, bool), np.empty((0, 2), int)
    epoch_stats, windows = {}, None
    if p.n_surrogates > 0:
        threshold, wave, epochs, windows, epoch_stats = _wave_epochs(
            out, est.wavevector, valid, band, fs_out, p.alpha, options.min_duration, p.window,
            p.n_lag_free, ph.patterns,
        )  # fmt: skip
    spacing = site_spacing(pos) if len(pos) >= 2 else None
    filter_delays = delays_filtered(field, p.requested, p.band_given)
    evidence = _phase_evidence(est, valid, wave, windows, spacing, p.n_surrogates > 0)
    evidence = replace(evidence, null_wave_fraction=epoch_stats.get("null_wave_fraction"))
    wf = evidence.wave_fraction
    if p.method in COHERENT_HEADLINE and (p.method == "coherent" or wf is not None):
        # the phase-gradient headline of wave epochs only (without epochs sought, no
        # surrogates, it is summarised over all samples); its own propagation test, not
        # the wave fraction, says whether it prints a speed (routes._coherent_verdict)
        coh = coherent_velocity(
            field, p.good, band, decimate=p.decimate, edge=p.edge, seed=options.seed
        )
        evidence = replace(evidence, coherent=coh)
    decision = settle_route(
        field,
        p.method,
        p.requested,
        len(p.good),
        RouteInput(band, filter_delays, options.broadband, evidence, p.alpha, spectrum=ph.spectrum),
    )
    speed, direction, wl = _reported_estimates(est, decision)
    choice = {
        "requested": p.requested,
        "chosen": p.method,
        "reason": p.reason,
        "reported": decision.reported,
    }
    return VelocityResult(
        method=decision.reported,
        fs=field.fs,
        fs_out=fs_out,
        index=index,
        valid=valid,
        speed=speed,
        direction=direction,
        wavelength=wl,
        phase_speed=est.speed,
        phase_direction=est.direction,
        phase_wavelength=est.wavelength,
        frequency=out["freq"],
        pgd=out["pgd"],
        fit=est.fit,
        wavevector=est.wavevector.T,
        wave=wave,
        epochs=epochs,
        threshold=float(threshold),
        alpha=p.alpha,
        band=band,
        space_unit=field.space_unit,
        time_unit=field.time_unit,
        n_sites=field.n_sites,
        n_good=len(p.good),
        n_dims=field.n_dims,
        spacing=spacing,
        extent=field.extent,
        duration=field.duration,
        patterns=ph.patterns,
        broadband=decision.result,
        snapshot=ph.snapshot,
        windows=_without_speeds(windows) if decision.no_wave else windows,
        extra={
            "generalized_phase": p.generalized,
            "band_source": p.band_source,
            "weights": options.weights,
            "decimate": p.decimate,
            "edge": p.edge,
            "layout": nb.kind,
            "null": options.null,
            **epoch_stats,
            "method_choice": choice,
            "band_role": _band_role(decision.reported, filter_delays),
            "cross_check": decision.check,
            "coherent": _coherent_json(evidence.coherent, decision),
            "route_problems": {k: v for k, v in decision.problems.items() if v},
            "route_warnings": decision.notes,
        },
    )


def _coherent_json(coh, decision) -> dict | None:
    """The coherent plane wave's record, with ``reported``: whether it is the headline
    speed the route prints (its diagnostics pass and the route found a wave)."""
    if coh is None:
        return None
    reported = decision.reported in COHERENT_HEADLINE and coh.valid and not decision.no_wave
    return {**coh.to_json(), "reported": bool(reported)}


def _without_speeds(windows: dict | None) -> dict | None:
    """The epochs' windows with no speed, direction or wavelength (a route that reports
    none keeps where its epochs were)."""
    if windows is None:
        return None
    out = dict(windows)
    for key in ("speed", "direction", "wavelength"):
        out[key] = np.full(np.shape(windows[key]), np.nan)
    return out


def _reported_estimates(est, decision) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(speed, direction, wavelength)`` of the reported route: per sample for a phase
    method, per estimate for a broadband one (no wavelength; NaN with no travelling wave)."""
    if decision.reported not in BROADBAND_METHODS:
        if decision.no_wave and not decision.keep_samples:
            nan = np.full(est.speed.shape, np.nan)
            return nan, nan.copy(), nan.copy()
        return est.speed, est.direction, est.wavelength
    speed = np.asarray(decision.result.speeds, float)
    direction = np.asarray(decision.result.directions, float)
    if decision.no_wave:
        speed, direction = np.full(speed.shape, np.nan), np.full(direction.shape, np.nan)
    return speed, direction, np.full(speed.shape, np.nan)


def _phase_evidence(est, valid, wave, windows, spacing, tested: bool) -> PhaseEvidence:
    """The phase route's summary speed and direction: those of the wave epochs' window
    estimates when there are any (what the summary prints), else of the valid samples
    (inside wave epochs when there are any)."""
    if windows is not None and np.isfinite(np.asarray(windows["speed"], float)).any():
        sp = np.asarray(windows["speed"], float)
        di = np.asarray(windows["direction"], float)[np.isfinite(sp)]
        speed = float(np.nanmedian(sp))
    else:
        sel = valid & (wave if wave.any() else True)
        sp = np.asarray(est.speed, float)[sel]
        di = np.asarray(est.direction, float)[sel][np.isfinite(sp)]
        sp = sp[np.isfinite(sp)]
        speed = float(np.median(sp)) if sp.size else np.nan
    di = di[np.isfinite(di)]
    direction = float(circ_mean(di)) if di.size else np.nan
    n_valid = max(int(valid.sum()), 1)
    return PhaseEvidence(
        speed,
        direction,
        est.wavelength[valid],
        spacing,
        bool(wave.any()) if tested else None,
        float(np.sum(wave & valid) / n_valid) if tested else None,
    )
