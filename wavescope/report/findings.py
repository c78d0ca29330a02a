"""The findings of a comparison in plain sentences, with numbers and intervals.

Each function reads a :class:`~wavescope.pipelines.compare.ComparisonResult` and returns
sentences (plain text; the HTML layer escapes them). Where a group has too few recordings
for an interval, the values themselves are given with how many there are; where a test
was not run, one sentence says why. Nothing is measured here: every number is a field of
the result.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = [
    "abstract",
    "differences",
    "label",
    "provenance",
    "how_fast",
    "how_far_back",
    "how_learned",
    "reference",
    "what_travels",
    "which_way",
]


def g3(v, unit: str = "") -> str:
    """A number to 3 significant digits (and its unit), or "not measured"."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "not measured"
    txt = format(float(v), ".3g")
    return f"{txt} {unit}".rstrip()


def pct(v) -> str:
    return "not measured" if v is None else f"{100 * float(v):.0f}%"


def _values(result, prop: str, group: str) -> np.ndarray:
    rows = [r for r in result.recordings if r["group"] == group]
    v = np.array([np.nan if r.get(prop) is None else float(r[prop]) for r in rows], float)
    return v[np.isfinite(v)]


def value_text(result, prop: str, group: str, fmt=g3, unit: str = "") -> str:
    """The group's estimate with its interval, or its values when there are too few."""
    e = result.stats.estimate(prop, group)
    if e is not None and e.estimate is not None:
        level = int(round(100 * result.stats.settings.level))
        txt = (
            f"{fmt(e.estimate)}{' ' + unit if unit else ''} ({level}% CI "
            f"{fmt(e.low)} to {fmt(e.high)}, {e.n} recordings"
        )
        if e.n_subjects < e.n:
            txt += f" of {e.n_subjects} subject{'s' if e.n_subjects != 1 else ''}"
        return txt + ")"
    v = _values(result, prop, group)
    u = f" {unit}" if unit else ""
    if v.size == 0:
        return "not measured"
    if v.size == 1:
        return f"{fmt(v[0])}{u} (one recording, no interval)"
    return f"{', '.join(fmt(x) for x in v)}{u} ({v.size} recordings, too few for an interval)"


def _plural(n: int, word: str) -> str:
    """``n`` and the word, its last word before any parenthesis in the plural."""
    if n == 1:
        return f"1 {word}"
    head, par, tail = word.partition(" (")
    return f"{n} {head}s{par}{tail}"


def label(result, g: str) -> str:
    """The group's name as every part of the report shows it: with "simulated" for a
    simulation and "did not learn" for a model whose training never left chance."""
    tags = []
    prov = getattr(result, "provenance", {}).get(g)
    if prov is not None and prov.kind == "simulated":
        tags.append("simulated")
    k, n = _not_learned(result, g)
    if k and k == n:
        tags.append("did not learn")
    elif k:
        tags.append(f"{k} of {n} did not learn")
    return f"{g} ({', '.join(tags)})" if tags else g


def _not_learned(result, g: str) -> tuple[int, int]:
    """(training runs of ``g`` that did not learn, runs whose learning is known); a
    result without runs falls back on its group flag."""
    runs = [r for r in getattr(result, "learning", []) if r.group == g and r.learned is not None]
    if runs:
        return sum(not r.learned for r in runs), len(runs)
    return (1, 1) if getattr(result, "learned", {}).get(g) is False else (0, 0)


def _subject_name(result, g: str) -> str:
    prov = getattr(result, "provenance", {}).get(g)
    return prov.subject_name if prov is not None else "subject"


def _group_line(result, g: str) -> str:
    ins = result.inputs_of(g)
    subj = len({i.subject for i in ins})
    kind = "line of state sites" if ins and ins[0].n_dims == 1 else "2-D array"
    return (
        f"{label(result, g)} ({_plural(len(ins), 'recording')} of "
        f"{_plural(subj, _subject_name(result, g))}, {kind})"
    )


def provenance(result) -> list[str]:
    """One sentence per group: simulated (generator, truth), recorded (source) or trained
    model (checkpoint), or that the comparison was not told."""
    out = []
    for g in result.groups:
        p = getattr(result, "provenance", {}).get(g)
        if p is None:
            continue
        if p.kind == "simulated":
            truth = (
                ""
                if not p.truth
                else "; truth: " + ", ".join(f"{k} {v}" for k, v in p.truth.items())
            )
            out.append(
                f"{g}: SIMULATED, not recorded: independent simulations of {p.source}{truth}."
            )
        elif p.kind == "recorded":
            out.append(f"{g}: recorded ({p.source}).")
        elif p.kind == "trained model":
            out.append(f"{g}: hidden states of trained model(s), checkpoint {p.source}.")
        else:
            out.append(
                f"{g}: origin not stated (recorded or simulated is unknown to the "
                f"comparison): {p.source}."
            )
    return out


def abstract(result) -> list[str]:
    """The report's opening: what was compared, on what, the main differences with their
    effect sizes and intervals, what was not testable (3-5 sentences, from the result's
    :class:`~wavescope.pipelines.compare.Abstract`)."""
    a = getattr(result, "abstract", None)
    if a is None:
        return []
    parts = [
        f"{label(result, x['group'])}: {_plural(x['n_recordings'], 'recording')} of "
        f"{_plural(x['n_subjects'], x['subject_name'])}"
        for x in a.groups
    ]
    out = [
        f"Compared {len(a.groups)} groups, {'; '.join(parts)}, on "
        f"{len(a.properties)} wave properties (dimensionless where units differ)."
    ]
    by = {}
    for e in a.estimates:
        if e.estimate is not None:
            by.setdefault(e.property, []).append(e)
    level = int(round(100 * result.stats.settings.level))
    for prop, name, f in (
        ("wave_fraction", "Waves filled", pct),
        ("pgd_median", "Median PGD was", g3),
    ):
        es = by.get(prop, [])
        if es:
            out.append(
                f"{name} "
                + "; ".join(
                    f"{f(e.estimate)} of the samples in {e.group} ({level}% CI {f(e.low)} to "
                    f"{f(e.high)})"
                    if prop == "wave_fraction"
                    else f"{f(e.estimate)} in {e.group} (CI {f(e.low)} to {f(e.high)})"
                    for e in es
                )
                + "."
            )
    if a.differences:
        out.append(
            "Differences surviving the FDR correction: "
            + "; ".join(
                f"{t.property} {t.group_a} vs {t.group_b} by {g3(t.difference)}"
                + (
                    f" (Cliff's delta {g3(t.cliffs_delta.estimate)}, CI "
                    f"{g3(t.cliffs_delta.low)} to {g3(t.cliffs_delta.high)}"
                    if t.cliffs_delta
                    else " ("
                )
                + f"; p(FDR) = {g3(t.p_fdr)})"
                for t in a.differences
            )
            + "."
        )
    elif a.n_tests:
        out.append(f"None of the {a.n_tests} tests survived the FDR correction.")
    missing = []
    if a.not_testable:
        missing.append(
            f"{'; '.join(a.not_testable)}, with estimates only (a test needs "
            f"{result.stats.settings.min_n} subjects per group)"
        )
    dull = [x["group"] for x in a.groups if x["learned"] is False]
    if dull:
        missing.append(
            f"{', '.join(dull)} as a trained model (its loss stayed at chance: it did not "
            "learn the task)"
        )
    if missing:
        out.append("Not testable: " + "; ".join(missing) + ".")
    return out[:5]


#: Recordings a group needs before its speed is described (as the pipeline's MIN_USABLE).
MIN_USABLE = 3


def _no_wave(result, g: str, what: str) -> str:
    """The sentence for a group none of whose recordings has a wave to measure."""
    n = len(result.inputs_of(g))
    return (
        f"{label(result, g)}: no {what}: none of its {_plural(n, 'recording')} carries a "
        f"travelling wave to measure; waves in {value_text(result, 'wave_fraction', g, pct)} "
        "of the samples. Each recording's warnings in the JSON say why."
    )


def what_travels(result) -> list[str]:
    """How much of the time each group carries waves, and how planar its phase maps are."""
    out = []
    for g in result.groups:
        out.append(
            f"{_group_line(result, g)}: waves in "
            f"{value_text(result, 'wave_fraction', g, pct)} of the samples; median PGD "
            f"{value_text(result, 'pgd_median', g)}."
        )
    thr = result.settings.get("alpha", 0.05)
    out.append(
        f"A sample is in a wave epoch when its PGD exceeds the threshold that the "
        f"no-propagation null crosses in a fraction {thr:g} of its samples, for at least one "
        "cycle."
    )
    return out


def _without_waves(result, g: str) -> bool:
    """No recording of the group spends any time in a wave epoch."""
    wf = _values(result, "wave_fraction", g)
    return wf.size > 0 and bool(np.all(wf == 0))


def how_fast(result) -> list[str]:
    """Speeds per group in each group's own unit, and in site spacings per cycle.

    A group without wave epochs gets the no-wave sentence (a speed measured outside any
    epoch is not a wave speed); one with a speed in fewer than 3 recordings gets those
    values and the statement that they do not describe the group.
    """
    out = []
    for g in result.groups:
        unit = result.units[g]
        v = _values(result, "speed_median", g)
        if v.size == 0 or _without_waves(result, g):
            txt = _no_wave(result, g, "speed")
            if v.size:
                txt += (
                    f" (a speed measured outside any wave epoch in {_plural(v.size, 'recording')}"
                    " is not a wave speed and is not reported.)"
                )
            out.append(txt)
            continue
        n = len(result.inputs_of(g))
        if v.size < MIN_USABLE:
            out.append(
                f"{label(result, g)}: a speed in only {v.size} of its "
                f"{_plural(n, 'recording')} ({', '.join(g3(x) for x in v)} {unit}): too few "
                f"({MIN_USABLE} needed) to describe the group; it is left out of the speed "
                "figure."
            )
            continue
        txt = (
            f"{label(result, g)}: median speed {value_text(result, 'speed_median', g, unit=unit)}"
            f", that is {value_text(result, 'speed_sites_per_cycle', g)} site spacings per cycle."
        )
        lv = next((c for c in result.learned_velocity if c.group == g), None)
        if lv is not None:
            txt += (
                f" The model's learned velocities are {g3(lv.learned_min)} to "
                f"{g3(lv.learned_max)} {unit}; measured and learned differ by at most "
                f"{lv.error_max:.1f}% (median {lv.error_median:.1f}%) over its {lv.n} captures."
            )
        out.append(txt)
    sel = {r.get("samples") for r in result.recordings}
    if "waves" in sel:
        out.append("Speeds summarise the samples inside wave epochs of each recording.")
    return out


#: Recordings that must all agree before a two-sided binomial test at 0.05 can reject
#: "forward and backward equally likely" (2 * 0.5**6 = 0.031).
_BINOMIAL_MIN_AGREE = 6


def which_way(result) -> list[str]:
    """Directions: a mean direction only where a test says the recordings share one.

    On a surface, a Rayleigh test over the recordings' mean directions; on a line, a
    binomial test of forward against backward over the recordings. Otherwise "no
    preferred direction (p = ...)", or why there is no test.
    """
    out = []
    for g in result.groups:
        name = label(result, g)
        d = result.direction_test(g)
        if d is None or (
            d.n == 0
            and not any(_values(result, p, g).size for p in ("forward_fraction", "direction_mean"))
        ):
            out.append(_no_wave(result, g, "direction"))
            continue
        if d.layout == "line":
            ff = value_text(result, "forward_fraction", g, pct)
            if d.preferred:
                way = (
                    "forward (towards increasing state index)"
                    if 2 * d.forward > d.n
                    else "backward"
                )
                out.append(
                    f"{name} (a line): travels {way} in {max(d.forward, d.n - d.forward)} of its "
                    f"{d.n} recordings (binomial p = {g3(d.p_value)}); estimates travelling "
                    f"forward: {ff}."
                )
            else:
                extra = (
                    f"; all {d.n} agree, but at least {_BINOMIAL_MIN_AGREE} agreeing recordings "
                    "are needed for p < 0.05"
                    if d.forward in (0, d.n) and d.n < _BINOMIAL_MIN_AGREE
                    else ""
                )
                out.append(
                    f"{name} (a line): no preferred direction (binomial p = {g3(d.p_value)}: "
                    f"{d.forward} of {d.n} recordings mostly forward{extra}); estimates "
                    f"travelling forward: {ff}."
                )
            continue
        conc = value_text(result, "direction_concentration", g)
        if d.test is None:
            out.append(
                f"{name}: no test of a preferred direction: {_plural(d.n, 'recording')} "
                f"with a direction, and a Rayleigh test needs {d.min_n}; concentration within "
                f"recordings {conc}."
            )
        elif d.preferred:
            out.append(
                f"{name}: mean direction {d.mean_deg:.0f} deg counter-clockwise from +x "
                f"(Rayleigh p = {g3(d.p_value)}, {d.n} recordings); concentration within "
                f"recordings {conc}."
            )
        else:
            out.append(
                f"{name}: no preferred direction (Rayleigh p = {g3(d.p_value)}, {d.n} "
                f"recordings); concentration within recordings {conc}."
            )
    if any(i.n_dims == 1 for i in result.inputs) and any(i.n_dims == 2 for i in result.inputs):
        out.append(
            "Directions on lines and on surfaces are different quantities and are not compared "
            "with each other."
        )
    return out


def how_far_back(result) -> list[str]:
    """Memory horizons and capacities."""
    mem = result.memory
    if mem is None:
        return []
    out = []
    for g, e in mem.groups.items():
        est = mem.estimate("horizon", g)
        cap = mem.estimate("capacity", g)
        unit = e.time_units[0] if len(e.time_units) == 1 else "step"
        # lags are samples of the recording (steps of a model); the time is said once,
        # as the median over curves, in the recording's own unit
        lag = "steps" if unit == "step" else "samples"
        if est is not None and est.estimate is not None:
            hz = f"{g3(est.estimate)} {lag} (CI {g3(est.low)} to {g3(est.high)}, {e.n} curves)"
        else:
            hz = ", ".join(str(h) for h in e.horizons) + (
                f" {lag} (one curve)" if e.n == 1 else f" {lag} ({e.n} curves)"
            )
        times = [float(t) for t in e.horizon_times if t is not None and np.isfinite(t)]
        in_time = f", i.e. {g3(float(np.median(times)))} {unit}" if unit != "step" and times else ""
        capt = (
            g3(cap.estimate)
            if cap is not None and cap.estimate is not None
            else ", ".join(g3(c) for c in e.capacities)
        )
        cens = (
            " (a lower bound: above the criterion at every lag measured)" if any(e.censored) else ""
        )
        out.append(
            f"{label(result, g)}: the input can be read back for {hz}{cens}{in_time}; memory "
            f"capacity {capt} {lag}."
        )
    out.append(
        "The horizon is the number of lags from 0 whose held-out decoding score stays above "
        "the criterion drawn on the figure."
    )
    return out


def how_learned(result) -> list[str]:
    """Steps (and seconds) to 95% exact-string accuracy per model, and final accuracy."""
    out = []
    groups = list(dict.fromkeys(r.group for r in result.learning))
    for g in groups:
        runs = [r for r in result.learning if r.group == g]
        reached = [r for r in runs if r.steps_to_95_exact is not None]
        final = [r.final_exact_acc for r in runs if r.final_exact_acc is not None]
        last = max(r.final_step for r in runs)
        n = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
        if reached:
            steps = [r.steps_to_95_exact for r in reached]
            secs = [r.seconds_to_95_exact for r in reached if r.seconds_to_95_exact is not None]
            txt = (
                f"{label(result, g)} ({n}): 95% exact-string accuracy on fresh training "
                f"batches at step {int(np.median(steps))}"
                + (f" (median over {len(steps)} runs)" if len(steps) > 1 else "")
                + (f", after {np.median(secs):.0f} s" if secs else "")
            )
            if len(reached) < len(runs):
                txt += f"; {len(runs) - len(reached)} run(s) never reached it"
        else:
            txt = (
                f"{label(result, g)} ({n}): never reached 95% exact-string accuracy in {last} steps"
            )
        if final:
            txt += f"; final exact-string accuracy {', '.join(pct(f) for f in final)}."
        else:
            txt += "."
        dull = [r for r in runs if r.learned is False]
        if dull:
            r0 = dull[0]
            every = len(dull) == len(runs)
            txt += (
                f" DID NOT LEARN ({len(dull)} of {n}"
                + ("" if every else f": {', '.join(r.label for r in dull)}")
                + "): final loss "
                f"{', '.join(g3(r.final_loss) for r in dull)} against chance "
                f"{g3(r0.chance_loss)} (ln {np.exp(r0.chance_loss):.0f}, a uniform guess over the "
                "letters); "
                + (
                    "its waves and memory are those of an untrained network, not of a copying "
                    "model."
                    if every
                    else "the waves and memory of those runs are those of untrained networks, "
                    "the group's those of a mix."
                )
            )
        out.append(txt)
    return out


def differences(result) -> list[str]:
    """What the group tests found, or why there are none."""
    tests = result.stats.tests
    run = [t for t in tests if t.p_value is not None]
    out = []
    if not tests:
        return ["Only one group: there is nothing to compare."]
    if not run:
        few = sorted(
            {g for g, n in result.stats.n_subjects.items() if n < result.stats.settings.min_n}
        )
        out.append(
            "No p-values are given: "
            + ", ".join(f"{g} has {result.stats.n_subjects[g]} subject(s)" for g in few)
            + f", and a test needs at least {result.stats.settings.min_n} subjects (independent "
            "animals, sessions or trained models) per group. Channels of one model are repeated "
            "measures of that model, not replicates; the estimates above describe these "
            "recordings."
        )
        return out
    sig = [t for t in run if t.significant]
    level = int(round(100 * (1 - result.stats.settings.alpha)))
    if sig:
        for t in sig:
            eff = t.cliffs_delta or t.circ_mean_difference
            e = f"; Cliff's delta {g3(eff.estimate)}" if t.cliffs_delta else ""
            out.append(
                f"{t.property}: {t.group_a} and {t.group_b} differ by {g3(t.difference)} "
                f"{t.unit if t.unit != '1' else ''}(p = {g3(t.p_value)}, FDR-adjusted "
                f"{g3(t.p_fdr)}, {t.test}{e})."
            )
    else:
        out.append(f"No difference survives the false-discovery-rate correction ({level}%).")
    skipped = len(tests) - len(run)
    if skipped:
        why = "; ".join(getattr(result.abstract, "not_testable", None) or [])
        out.append(
            f"{skipped} comparison(s) were not tested"
            + (f": {why}" if why else " (too few subjects)")
            + "; see Details."
        )
    return out


def reference(result) -> list[str]:
    """Physical groups against the published speed density."""
    ref = result.reference
    if ref is None:
        return []
    d = ref.distribution
    out = [
        f"Reference (recorded, marmoset MT): median speed {g3(d['median'])} m/s (IQR "
        f"{g3(d['q25'])} to {g3(d['q75'])}); {d.get('citation', '')}"
    ]
    for c in ref.groups:
        if c.reference_percentile is None:
            out.append(f"{c.group}: {c.message}")
        else:
            out.append(
                f"{c.group}: median speed {g3(c.group_median, 'm/s')} lies at "
                f"percentile {c.reference_percentile:.0f} of the reference (KS p = "
                f"{g3(c.ks_p)}, sign test p = {g3(c.sign_p)}, {c.n} recordings)."
            )
    return out


_FEW_SUBJECTS = re.compile(
    r"^(?P<pair>.+? vs .+?): group '(?P<g>[^']+)' has (?P<n>\d+) subject\(s\) \(recordings of "
    r"one model, animal or session are repeated measures\); a test needs at least (?P<k>\d+) "
    r"subjects per group, so only estimates are given\.$"
)
_FEW_USABLE = re.compile(
    r"^group '(?P<g>[^']+)' has (?P<n>\d+) usable recording\(s\) for '(?P<p>[^']+)'; an "
    r"interval or a test needs at least (?P<k>\d+): add recordings, subjects or seeds\.$"
)
_UNITS = re.compile(
    r"^'(?P<p>[^']+)' not compared for (?P<pairs>.+): different units \(raw properties are "
    r"compared only among groups sharing a unit\)\.$"
)
_LAYOUT = re.compile(
    r"^'(?P<p>[^']+)' is defined on a (?P<kind>surface|line) only: not tabulated for "
    r"(?P<gs>.+) \(other layouts\)\.$"
)


def condensed_notes(messages: list[str], n_subjects: dict | None = None) -> list[str]:
    """The comparison's messages with the repetitive ones said once each.

    The statistics note every property and pair that is not tested; the report says each
    kind once: which pairs get estimates only and why, which properties a group has too
    few recordings for, which raw properties are not compared across units, and which
    properties one layout does not have. Other messages pass through unchanged, in order.

    ``n_subjects`` (``{group: subjects}``, the comparison's) names each group with its
    own count; a group with enough subjects that is short of usable recordings for some
    properties is said so, never given a smaller subject count (the messages count the
    subjects with a value of each property, which differ between properties).
    """
    few_pairs: dict[str, None] = {}
    few_groups: dict[str, int] = {}
    k_subjects = 3
    usable: dict[str, dict[str, None]] = {}
    k_usable = 3
    units: dict[str, str] = {}
    layout: dict[tuple[str, str], list[str]] = {}
    out: list[str | tuple] = []
    for m in messages:
        if (x := _FEW_SUBJECTS.match(m)) is not None:
            few_pairs[x["pair"]] = None
            few_groups[x["g"]] = max(few_groups.get(x["g"], 0), int(x["n"]))
            k_subjects = int(x["k"])
            key = ("few",)
        elif (x := _FEW_USABLE.match(m)) is not None:
            usable.setdefault(x["g"], {})[x["p"]] = None
            k_usable = int(x["k"])
            key = ("usable",)
        elif (x := _UNITS.match(m)) is not None:
            units[x["p"]] = x["pairs"]
            key = ("units",)
        elif (x := _LAYOUT.match(m)) is not None:
            layout.setdefault((x["kind"], x["gs"]), []).append(x["p"])
            key = ("layout",)
        else:
            out.append(m)
            continue
        if key not in out:
            out.append(key)
    text = []
    for item in out:
        if isinstance(item, str):
            text.append(item)
        elif item == ("few",):
            counts = dict(few_groups)
            if n_subjects:
                counts = {g: int(n_subjects.get(g, n)) for g, n in few_groups.items()}
            short = {g: n for g, n in counts.items() if n < k_subjects}
            enough = [g for g, n in counts.items() if n >= k_subjects]
            groups = ", ".join(f"{g} ({n} subject{'s' * (n != 1)})" for g, n in short.items())
            txt = (
                f"Only estimates, no tests, for {', '.join(few_pairs)}: a test needs at least "
                f"{k_subjects} subjects per group"
            )
            if short:
                txt += (
                    f" and {groups} {'has' if len(short) == 1 else 'have'} fewer (recordings "
                    "of one model, animal or session are repeated measures, not replicates)"
                )
            if enough:
                txt += (
                    f"{';' if short else ','} {', '.join(enough)} "
                    f"{'has' if len(enough) == 1 else 'have'} too few usable recordings for "
                    "some properties (below)"
                )
            text.append(txt + ". Next: train or record more subjects (seeds, animals).")
        elif item == ("usable",):
            for g, props in usable.items():
                text.append(
                    f"group '{g}' has fewer than {k_usable} usable recordings for "
                    f"{', '.join(props)} (undefined there, e.g. no speed without waves): no "
                    "interval or test for those; add recordings, subjects or seeds."
                )
        elif item == ("units",):
            pairs = ", ".join(dict.fromkeys(units.values()))
            text.append(
                f"Raw properties ({', '.join(units)}) are not compared for {pairs}: the groups "
                "are in different units; the dimensionless properties are."
            )
        elif item == ("layout",):
            for (kind, gs), props in layout.items():
                text.append(
                    f"{', '.join(props)}: defined on a {kind} only, not tabulated for {gs} "
                    "(other layouts)."
                )
    return text
