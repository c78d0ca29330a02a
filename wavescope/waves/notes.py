"""The warnings of a velocity summary: what a reader must know to trust its numbers.

:func:`_warnings_for` adds to a route's own warnings those about an under-resolved
wavelength, the band against the record's length, few wave epochs with a biased speed,
a speed of samples that are not waves (:func:`not_waves`), and every undefined (null)
number with its reason.
"""

from __future__ import annotations

import numpy as np

from wavescope.core.validate import band_record_notes
from wavescope.signal.spectral import default_transition
from wavescope.waves.routes import PHASE_METHODS

#: Wave fraction under which the speed of the wave epochs is checked against all samples.
FEW_EPOCHS = 0.2


#: Relative difference (epochs vs all samples) that the summary warns about then.
SELECTION_TOLERANCE = 0.05

#: Fraction of the summarised samples with synchronous or disorganised phase maps above
#: which they are called "not waves" (most of them hold no travelling pattern).
NOT_WAVES_FRACTION = 0.5


#: The next thing to try after a route's failed diagnostic or disagreement, said in CLI
#: syntax (the Python API takes the same names as keyword arguments of measure_velocity).
_NEXT = (
    (
        "unreliable here",
        "Next: see how the defaults do on this recording's layout and background "
        "(wavescope calibrate FILE), or try another route (--method xcorr, komega or "
        "event-time).",
    ),
    (
        "the two estimators disagree",
        "Next: run each route (--method xcorr, --method komega) and compare, or give the "
        "band of the oscillation (--band LO HI).",
    ),
    (
        "no travelling wave found: the phase route finds no wave epoch",
        "Next: give the band of the oscillation (--band LO HI), or check what this "
        "recording could show with wavescope calibrate FILE.",
    ),
)


def _with_next(note: str) -> str:
    """A route's warning with the next thing to try, when it does not say one."""
    for key, nxt in _NEXT:
        if key in note and "Next:" not in note and "CLI:" not in note:
            return f"{note} {nxt}"
    return note


def _warnings_for(summary: dict, spacing: float | None) -> list[str]:
    notes = [_with_next(n) for n in summary.get("route_warnings") or []]
    wl = summary["wavelength"]["median"]
    under = any("under 4 site spacings" in n for n in notes)
    if (
        spacing
        and wl is not None
        and wl < 4 * spacing
        and summary["method"] in PHASE_METHODS
        and not under
    ):
        notes.append(
            f"wavelength {wl:.3g} {summary['space_unit']} is under 4 site spacings "
            f"({spacing:.3g}): phase gradients are under-resolved and speeds biased; use a "
            "lower band or a broadband method (event-time, xcorr, komega)."
        )
    notes.extend(_record_notes(summary))
    notes.extend(_selection_notes(summary))
    notes.extend(_not_waves_notes(summary))
    notes.extend(_undefined_notes(summary))
    return notes


def _selection_notes(summary: dict) -> list[str]:
    """Warn when few wave epochs give a speed unlike that of all samples.

    Epochs are selected by PGD, which the same noise moves: when they cover little of the
    record (in-band SNR about 5 dB on a small array: 2-14% of the time) their speeds
    carried a bias of -7% to -15% where the median over all samples stayed within 2%
    (analyses/results/speed_bias.md).
    """
    wf = summary.get("wave_fraction")
    sp, sp_all = summary.get("speed", {}), summary.get("speed_all_samples")
    if (summary.get("coherent") or {}).get("reported"):
        return []  # the coherent plane wave of all samples: no sample selected by PGD
    if not sp_all or wf is None or not np.isfinite(wf) or wf >= FEW_EPOCHS:
        return []
    a, b = sp.get("median"), sp_all.get("median")
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)) or b == 0:
        return []
    rel = a / b - 1
    if abs(rel) <= SELECTION_TOLERANCE:
        return []
    return [
        f"wave epochs cover only {wf:.0%} of the record and their speed ({a:.3g}) differs "
        f"from the median over all samples ({b:.3g} {sp_all['unit']}, {rel:+.0%}): epochs "
        "selected by PGD can carry the noise's bias; where the wave is known to last, report "
        "speed_all_samples."
    ]


def not_waves(summary: dict) -> list[str]:
    """Why the samples a speed summarises over all samples are not waves (empty when
    nothing says so).

    A speed over all valid samples (``--summary-of all``, or ``auto`` without epochs) is
    a number even where no wave travels: a synchronous oscillation's phase maps carry
    only noise gradients, whose inverse is a large, meaningless speed (tens of m/s). The
    samples are not waves when wave epochs were sought and none was found, or when most
    of their phase maps are synchronous or disorganised (pattern classes of the same
    samples).
    """
    if summary.get("samples_summarised") != "all" or summary["speed"]["median"] is None:
        return []
    why = []
    if summary["pgd"].get("threshold") is not None and summary.get("n_epochs") == 0:
        why.append("no wave epoch: PGD never above the no-propagation null")
    patterns = summary.get("patterns") or {}
    sync, dis = patterns.get("synchronous") or 0.0, patterns.get("disorganised") or 0.0
    if sync + dis > NOT_WAVES_FRACTION:
        why.append(f"{sync:.0%} synchronous and {dis:.0%} disorganised phase maps")
    return why


def _not_waves_notes(summary: dict) -> list[str]:
    why = not_waves(summary)
    if not why:
        return []
    sp = summary["speed"]
    fix = (
        "summarise the wave epochs instead (the default --summary-of auto, or waves; Python: "
        "summarise('auto'))"
        if summary["pgd"].get("threshold") is not None
        else "measure with wave epochs (n_surrogates > 0) and summarise them (the default "
        "--summary-of auto)"
    )
    return [
        f"the speed {sp['median']:.3g} {sp['unit']} summarises all valid samples, which are "
        f"not waves ({'; '.join(why)}); it is not the speed of a travelling wave: {fix}."
    ]


def _undefined_notes(summary: dict) -> list[str]:
    """Replace NaN/inf numbers of ``summary`` (in place) by None, and say why the main
    measures are undefined: JSON has no NaN, and a null needs its reason."""
    replaced = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, (dict, list)):
                walk(value, f"{path}{key}.")
            elif isinstance(value, (float, np.floating)) and not np.isfinite(value):
                node[key] = None
                replaced.append(f"{path}{key}")

    walk(summary, "")
    notes = []
    if replaced:
        notes.append(
            f"{', '.join(replaced)} not finite, given as null: an infinite speed or "
            "wavelength means no delay or phase difference between sites (synchronous "
            "activity or a standing pattern), not a fast wave."
        )
    no_wave = any(
        "no travelling wave found" in n or n.startswith("no speed is reported")
        for n in summary.get("route_warnings") or []
    )
    if summary["speed"]["median"] is None and "speed.median" not in replaced and not no_wave:
        which = summary.get("samples_summarised")
        notes.append(
            "speed is null: no summarised sample has a finite, nonzero phase gradient"
            + (
                " (no sample lies in a wave epoch)"
                if which == "waves"
                else " (all sites in phase: synchronous activity, no travelling wave)"
            )
            + "; direction is null with it."
        )
        # the direction of a zero gradient is arbitrary (arctan2(0, 0)), not a finding
        for key in ("mean_rad", "mean_deg", "concentration"):
            summary["direction"][key] = None
    if summary["pgd"]["median"] is None:
        notes.append(
            "PGD is null: no summarised sample has a nonzero local phase gradient (all "
            "sites in phase), or none is usable (neighbours that do not span the layout)."
        )
    return notes


def _record_notes(summary: dict) -> list[str]:
    """Warnings about the band against the record's length (see band_record_notes)."""
    if summary.get("band") is None or not summary.get("duration"):
        return []
    if str(summary.get("band_role", "")).startswith("PGD and wave epochs only"):
        return []  # the speed comes from unfiltered delays: the band's limits do not bias it
    band = tuple(summary["band"])
    tr = default_transition(band, summary["fs"])
    return band_record_notes(band, tr, summary["duration"], summary["time_unit"])
