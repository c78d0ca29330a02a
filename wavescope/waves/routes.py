"""The velocity routes: which estimator measures a field, and whether a second agrees.

:func:`choose_method` picks the route for ``method="auto"``; a broadband route runs its
estimator (:mod:`wavescope.waves.broadband`) and its own diagnostics say whether its
result can be trusted; the automatic route is cross-checked by a second, independent
estimator where one is cheap, and the route whose speed is reported, with the notes that
say why, is settled here.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.results import finite_or_none
from wavescope.core.validate import WaveInputError
from wavescope.waves.broadband import event_time_velocity, komega_velocity, xcorr_velocity

__all__ = [
    "BROADBAND_METHODS",
    "METHODS",
    "PHASE_METHODS",
    "choose_method",
    "spectral_concentration",
]

#: Methods whose estimates are per read-out sample of the band's phase.
PHASE_METHODS = ("phase-gradient", "circlinear")
#: Methods that read delays from the samples (per wave or one per record).
BROADBAND_METHODS = ("event-time", "xcorr", "komega")
#: Methods of :func:`~wavescope.waves.velocity.measure_velocity`. The first two use phase
#: in a band; the others are broadband.
METHODS = PHASE_METHODS + BROADBAND_METHODS

#: Fewest site spacings a k-omega ridge must carry the pattern over the record.
MIN_TRAVEL_SITES = 3.0


#: Fraction of xcorr pair lags at the search edge above which the lags are search-limited.
MAX_EDGE_FRACTION = 0.1


#: Relative difference between two speed estimators above which they are said to disagree.
AGREEMENT_TOLERANCE = 0.05


#: Records (good sites x samples) up to which the phase route is cross-checked by xcorr.
CROSS_CHECK_MAX_VALUES = 2**22


def spectral_concentration(field: WaveField, good=None) -> float:
    """Fraction of the site-averaged power within a factor 1.25 of its spectral peak.

    The power counted is the periodogram's excess over its median (a broadband floor
    such as white noise, which spreads over all frequencies). Near 1 for a narrowband
    oscillation, also in white noise of its own variance; 0.3-0.5 for a single pulse or
    an impulse response, lower for broadband noise: the rule by which the automatic method chooses
    the phase route (at least 0.6) or a broadband one.
    """
    from scipy import fft as sfft

    good = field.good if good is None else good
    n = field.n_times
    step = max(1, len(good) // 64)  # at most ~64 sites read
    x = np.asarray(field.data[good[::step], : min(n, 2**16)], np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    power = np.mean(np.abs(sfft.rfft(x, axis=1)) ** 2, axis=0)[1:]
    # power above the broadband floor (the spectrum's median): an oscillation in white
    # noise of equal variance holds most of the power above the floor, though under half
    # of all of it (and event times of white noise read 10% slow where its phase is right)
    power = np.clip(power - np.median(power), 0.0, None)
    if not power.sum() > 0:
        return 0.0
    f = np.arange(1, len(power) + 1) / x.shape[1]
    f0 = f[np.argmax(power)]
    near = (f >= f0 / 1.25) & (f <= f0 * 1.25)
    return float(power[near].sum() / power.sum())


def _evenly_spaced_line(field: WaveField, good) -> bool:
    if field.n_dims != 1 or len(good) < 4:
        return False
    gaps = np.diff(np.sort(field.positions[good, 0]))
    return bool(np.allclose(gaps, gaps[0], rtol=1e-6))


def choose_method(field: WaveField, good=None, *, band_given: bool = False) -> tuple[str, str]:
    """The velocity method right for this kind of field, and why (``method="auto"``).

    - model states (time in steps) on an evenly spaced line of sites: ``"komega"`` (the
      k-omega ridge; within 0.4% for the shift-SSM and v-Wave states at 0.25-3
      sites/step on 64- and 128-step impulse responses);
    - a band given for any other field: ``"phase-gradient"`` (the band names the
      oscillation to follow, e.g. bursts in pink noise);
    - otherwise broadband or pulse-like fields on an evenly spaced line: ``"komega"``;
    - broadband fields on other layouts: ``"event-time"`` (plane fits of event times) on
      2-D layouts, ``"xcorr"`` on uneven lines;
    - narrowband oscillations (at least 60% of the power within a factor 1.25 of the
      spectral peak, :func:`spectral_concentration`): ``"phase-gradient"``.
    """
    good = field.good if good is None else good
    line = _evenly_spaced_line(field, good)
    if field.time_unit == "step" and line:
        return "komega", "model states on a line of sites (time in steps): k-omega ridge"
    if band_given:
        return "phase-gradient", "a band was given: the phase of that oscillation"
    conc = spectral_concentration(field, good)
    if conc >= 0.6:
        return "phase-gradient", f"narrowband ({conc:.0%} of the power near its peak): phase"
    if line:
        return "komega", f"broadband ({conc:.0%} of the power near its peak) on a line: k-omega"
    if field.n_dims == 1:
        return "xcorr", f"broadband ({conc:.0%} near its peak) on an uneven line: xcorr lags"
    return "event-time", f"broadband ({conc:.0%} of the power near its peak): event times"


def _cross_check_method(method: str, field: WaveField, n_good: int) -> str | None:
    """The cheap, independent second estimator of a route (None when none is cheap)."""
    if method in ("komega", "event-time"):
        return "xcorr"
    if method == "xcorr":
        return "komega" if _evenly_spaced_line(field, field.good) else "event-time"
    if n_good * field.n_times <= CROSS_CHECK_MAX_VALUES:
        return "xcorr"
    return None


def _broadband(field, method, band, band_given, options):
    """Run a broadband estimator on the field (band-passed when a band was given)."""
    fn = {
        "event-time": event_time_velocity,
        "xcorr": xcorr_velocity,
        "komega": komega_velocity,
    }[method]
    target, kw = field, {}
    if band_given:
        from wavescope.signal.spectral import bandpass

        target = field.with_data(bandpass(field.data, field.fs, band))
        if method == "xcorr":
            # Lags of a narrowband signal are ambiguous past half a period (side peaks of
            # its autocorrelation one period away); a band of an octave or more has weak
            # side peaks, and only lags past half a period of its lowest frequency alias.
            f_ref = band[0] if band[1] >= 2 * band[0] else band[1]
            if f_ref > 0:  # a low-pass band (lo = 0) sets no such limit
                lag = max(1, int(0.5 * field.fs / f_ref))
                if lag < field.n_times:  # else the default rule applies
                    kw["max_lag"] = lag
    kw.update(options or {})
    return fn(target, **kw)


def _diagnose(method, bb, wavelengths, field, nb_spacing=None) -> list[str]:
    """What a route's own diagnostics say against its result (empty: nothing)."""
    probs = []
    if method in PHASE_METHODS:
        wl = np.asarray(wavelengths, float)
        wl = wl[np.isfinite(wl)]
        if nb_spacing and wl.size and np.median(wl) < 4 * nb_spacing:
            probs.append(
                f"wavelength {np.median(wl):.3g} {field.space_unit} is under 4 site spacings"
            )
        return probs
    d = bb.details or {}
    if method == "xcorr":
        if d.get("edge_fraction", 0) > MAX_EDGE_FRACTION:
            probs.append(
                f"{100 * d['edge_fraction']:.0f}% of the pair lags sit at the search edge "
                f"(max_lag {d.get('max_lag')} samples; CLI: --max-lag)"
            )
        if bb.quality < 0.5:
            probs.append(f"the lags fit a plane poorly (R^2 {bb.quality:.2f})")
    elif method == "komega":
        if d.get("at_range_edge"):
            probs.append("the ridge lies at the edge of the speeds searched")
        if d.get("travel_sites", np.inf) < MIN_TRAVEL_SITES:
            probs.append(
                f"at the ridge's speed the pattern moves only {d['travel_sites']:.1f} site "
                f"spacings over the record (fewer than {MIN_TRAVEL_SITES:g}): no propagation "
                "is resolved"
            )
    elif method == "event-time":
        if bb.n < 2:
            probs.append(f"only {bb.n} wave(s) reached enough sites")
        if bb.quality < 0.8:
            probs.append(f"event times fit a plane poorly (median R^2 {bb.quality:.2f})")
    if not np.isfinite(bb.speed) or bb.speed <= 0:
        probs.append("no finite speed (no delay between sites)")
    return probs


def _search_limited(method: str, bb) -> bool:
    """Whether a broadband result is limited by its own search (so says nothing against
    another estimate): xcorr lags at the search edge, a k-omega ridge at the edge of the
    speeds searched, fewer than two event-time waves."""
    d = bb.details or {}
    if method == "xcorr":
        return d.get("edge_fraction", 0) > MAX_EDGE_FRACTION
    if method == "komega":
        return bool(d.get("at_range_edge"))
    return bb.n < 2


def _agreement(primary, primary_speed, second, speed, route) -> dict:
    rel = (speed / primary_speed - 1) if primary_speed and np.isfinite(primary_speed) else np.nan
    # no primary speed (no wave epoch): nothing to agree or disagree with
    agree = None if not np.isfinite(rel) else bool(abs(rel) <= AGREEMENT_TOLERANCE)
    return {
        "method": second,
        "speed": finite_or_none(speed),
        "primary": primary,
        "primary_speed": finite_or_none(primary_speed),
        "relative_difference": finite_or_none(rel),
        "tolerance": AGREEMENT_TOLERANCE,
        "agree": agree,
        "valid": not route.get(second),
    }


def _phase_speed(speed, sel) -> float:
    sp = np.asarray(speed, float)[sel]
    sp = sp[np.isfinite(sp)]
    return float(np.median(sp)) if sp.size else np.nan


def _band_role(method: str, band_given: bool) -> str:
    if method in PHASE_METHODS:
        return "phase, PGD and wave epochs"
    return "delays and PGD" if band_given else "PGD and wave epochs only (delays unfiltered)"


def _fmt(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(float(x), ".3g")


def _run_routes(field, method, requested, n_good, wavelengths, spacing, phase_speed, bb_opts):
    """The chosen route's result and diagnostics, and (``method="auto"``) its cross-check.

    Returns ``(route, check, bb)``: each method run mapped to the problems its own
    diagnostics found, the :func:`_agreement` record (None without a check) and the
    broadband result of the chosen route (None for a phase route).
    """
    band, filter_delays, options = bb_opts["band"], bb_opts["filter_delays"], bb_opts["options"]
    route, bb = {}, None
    if method in BROADBAND_METHODS:
        bb = _broadband(field, method, band, filter_delays, options)
        route[method] = _diagnose(method, bb, None, field)
    else:
        route[method] = _diagnose(method, None, wavelengths, field, nb_spacing=spacing)
    check = None
    second = _cross_check_method(method, field, n_good) if requested == "auto" else None
    if second is not None:
        try:
            # the phase route follows the band's oscillation: its check sees that band
            filtered = filter_delays or method in PHASE_METHODS
            cbb = _broadband(field, second, band, filtered and second == "xcorr", None)
            route[second] = _diagnose(second, cbb, None, field)
            primary_speed = bb.speed if bb is not None else phase_speed
            check = _agreement(method, primary_speed, second, cbb.speed, route)
            check["inconclusive"] = _search_limited(second, cbb)
            check["bb"] = cbb
        except WaveInputError as exc:
            route[second] = [f"{second} did not run: {exc}"]
    return route, check, bb


def _reported_route(field, method, route, check, bb, bb_opts):
    """The route whose speed is reported, its broadband result and the notes that say why.

    The cross-check's route is reported when the chosen route's diagnostics fail and the
    check's do not; every failed diagnostic and every disagreement becomes a note.
    """
    notes = []
    reported = method
    if route[method] and check is not None and not route[check["method"]]:
        reported = check["method"]  # the primary route says it is unreliable; the check not
        notes.append(
            f"{method} is unreliable here ({'; '.join(route[method])}); the speed reported is "
            f"{reported}'s."
        )
    elif route[method]:
        notes.append(f"{method} may be unreliable here: {'; '.join(route[method])}.")
    if check is not None and check["agree"] is False:
        rel = check["relative_difference"]
        why = route[check["method"]]
        notes.append(
            f"the two estimators disagree: {method} {_fmt(check['primary_speed'])} and "
            f"{check['method']} {_fmt(check['speed'])} {field.speed_unit} "
            + (f"({rel:+.1%}, more than {check['tolerance']:.0%})" if rel is not None else "")
            + (f"; {check['method']}: {'; '.join(why)}" if why else "")
            + "."
        )
    if reported != method:
        bb = check["bb"]
    if reported in BROADBAND_METHODS and (bb is None or bb.method != reported):
        bb = _broadband(
            field, reported, bb_opts["band"], bb_opts["filter_delays"], bb_opts["options"]
        )
    return reported, bb, notes
