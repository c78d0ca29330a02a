"""Group comparison: read every input, measure it, tabulate, test; a typed result.

:func:`run_comparison` is the engine of ``wavescope compare``: it reads recordings and
hidden-state captures (:func:`~wavescope.pipelines.recording.read_input`), measures each
with :func:`~wavescope.pipelines.recording.measure_recording` (each input a typed
:class:`ComparedRecording`), tabulates their properties
(:func:`~wavescope.pipelines.properties.wave_properties`), compares the groups
(:func:`~wavescope.stats.compare.compare_groups`), the memory curves
(:func:`~wavescope.stats.memory.compare_memory`) and optionally a reference speed
density, reads learning curves, and returns a :class:`ComparisonResult` holding every
number and what the figures need. Rendering is the report layer's
(:func:`wavescope.report.render_comparison`); :func:`write_comparison` writes the JSON
and the rendered HTML.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.results import Result, jsonable
from wavescope.core.units import speed_scale, unit_class
from wavescope.core.validate import WaveInputError, check_option
from wavescope.io.outputs import check_output_path
from wavescope.pipelines.recording import (
    RecordingResult,
    VelocityOptions,
    measure_recording,
    read_input,
)
from wavescope.stats.compare import GroupComparison, ReferenceComparison
from wavescope.stats.memory import MemoryComparison
from wavescope.waves.result import VelocityResult
from wavescope.waves.velocity import METHODS

__all__ = [
    "Abstract",
    "ComparisonFigures",
    "ComparisonResult",
    "ComparedRecording",
    "DirectionTest",
    "InputInfo",
    "LearnedVelocityCheck",
    "LearningRun",
    "Provenance",
    "ReferenceSection",
    "check_report_paths",
    "run_comparison",
    "write_comparison",
]

#: Per-sample values drawn per group at most (a random subset above it).
MAX_FIGURE_SAMPLES = 20000
#: A run whose final training loss is above this fraction of the chance loss did not learn.
NOT_LEARNED_LOSS = 0.9
#: Recordings a group needs before its distribution is drawn or its estimate described.
MIN_USABLE = 3
#: Letters of the copy task (wavescope.models.tasks.N_LETTERS; not imported: models
#: imports torch and this layer must run without it).
COPY_LETTERS = 26


@dataclass
class Provenance(Result):
    """Where a group's inputs came from: what a reader must know before comparing them.

    Attributes
    ----------
    kind : str
        ``"simulated"`` (a generator with known truth), ``"recorded"`` (a measured
        recording), ``"trained model"`` (hidden states of a trained network) or
        ``"unstated"`` (files whose origin the comparison was not told).
    source : str
        The generator (``"wavescope.datasets.neural_field"``), the source file(s) or the
        checkpoint(s).
    truth : dict, optional
        A simulation's known truth (e.g. ``{"speed": 0.3, "unit": "m/s"}``).
    subject_name : str
        What one subject of the group is (``"independent simulation"``, ``"animal"``,
        ``"trained model (seed)"``, ``"file"``), said wherever the group's count is.
    """

    kind: str
    source: str
    truth: dict | None = None
    subject_name: str = "subject"

    @classmethod
    def simulated(cls, generator: str, truth: dict | None = None) -> Provenance:
        """Independent simulations of ``generator`` with known ``truth``."""
        return cls("simulated", generator, truth, "independent simulation")

    @classmethod
    def recorded(cls, source: str, subject_name: str = "animal") -> Provenance:
        """Recordings read from ``source``."""
        return cls("recorded", source, None, subject_name)


def _provenance(group: str, infos: list, fields: list) -> Provenance:
    """The provenance of a group the caller did not describe, from what its inputs say:
    a checkpoint (probe captures) makes a trained model, a stored truth a simulation,
    anything else stays "unstated" with its files named (never assumed recorded)."""
    ckpts = list(
        dict.fromkeys(str(f.meta["checkpoint"]) for f in fields if f.meta.get("checkpoint"))
    )
    if ckpts:
        return Provenance("trained model", ", ".join(ckpts), None, "trained model (seed)")
    truth = [f.meta.get("truth") for f in fields if isinstance(f.meta.get("truth"), dict)]
    if truth:
        gen = str(fields[0].meta.get("generator", "a wavescope.datasets generator"))
        return Provenance("simulated", gen, jsonable(truth[0]), "independent simulation")
    srcs = [i.source for i in infos if i.source] or [i.name for i in infos]
    shown = ", ".join(srcs[:3]) + (f", ... ({len(srcs)} files)" if len(srcs) > 3 else "")
    return Provenance("unstated", shown, None, "file")


@dataclass
class DirectionTest(Result):
    """Whether a group's recordings share a direction of propagation.

    One direction per recording (its mean direction on a surface; forward or backward,
    by its forward fraction, on a line): a Rayleigh test of uniformity on a surface, a
    two-sided binomial test of forward against backward (p = 0.5) on a line. Only where
    ``p_value < alpha`` has the group a preferred direction.

    Attributes
    ----------
    group : str
    layout : str
        ``"surface"`` or ``"line"``.
    test : str or None
        The test run (None: too few recordings with a direction).
    n : int
        Recordings with a direction.
    p_value : float or None
    preferred : bool or None
        ``p_value < alpha``; None when not tested.
    mean_deg : float or None
        Circular mean of the recordings' directions, degrees CCW from +x (surface).
    forward : int or None
        Recordings travelling mostly forward (line); ``n - forward`` mostly backward.
    min_n : int
        Recordings the test needs.
    """

    group: str
    layout: str
    test: str | None
    n: int
    p_value: float | None
    preferred: bool | None
    mean_deg: float | None = None
    forward: int | None = None
    min_n: int = 3


def _direction_tests(table, groups: list[str], dims: dict, alpha: float) -> list[DirectionTest]:
    from scipy.stats import binomtest

    from wavescope.stats.circular import circ_mean, rayleigh_test

    out = []
    for g in groups:
        sub = table[table.group == g]
        if dims[g] == 1:
            ff = sub["forward_fraction"].to_numpy(float) if "forward_fraction" in sub else []
            ff = np.asarray(ff, float)
            ff = ff[np.isfinite(ff) & (ff != 0.5)]
            fwd = int(np.sum(ff > 0.5))
            if ff.size < 1:
                out.append(DirectionTest(g, "line", None, 0, None, None, forward=0, min_n=1))
                continue
            p = float(binomtest(fwd, ff.size, 0.5).pvalue)
            out.append(
                DirectionTest(
                    g, "line", "binomial", int(ff.size), p, p < alpha, forward=fwd, min_n=1
                )
            )
        else:
            d = sub["direction_mean"].to_numpy(float) if "direction_mean" in sub else []
            d = np.asarray(d, float)
            d = d[np.isfinite(d)]
            if d.size < 3:
                out.append(DirectionTest(g, "surface", None, int(d.size), None, None))
                continue
            r = rayleigh_test(d)
            mean = float(np.degrees(circ_mean(d))) if r.p_value < alpha else None
            out.append(
                DirectionTest(
                    g, "surface", "Rayleigh", int(d.size), r.p_value, r.p_value < alpha, mean
                )
            )
    return out


@dataclass
class Abstract(Result):
    """What the report's opening paragraph says, as numbers (rendered, never recomputed).

    Attributes
    ----------
    groups : list of dict
        Per group: ``group``, ``kind`` (of its :class:`Provenance`), ``n_recordings``,
        ``n_subjects``, ``subject_name``, ``learned`` (:func:`group_learned`),
        ``runs_not_learned`` and ``runs_known`` (training runs that did not learn, of
        those whose learning is known).
    properties : list of str
        The properties compared.
    estimates : list of GroupEstimate
        Wave fraction and median PGD per group (the main contrasts, with intervals).
    differences : list of PairTest
        The tests that survived the FDR correction, smallest adjusted p first (at most 3).
    n_tests : int
        Tests run.
    not_testable : list of str
        Pairs that were not tested, each with the group(s) short of subjects
        (``"cortex vs mamba (cortex: 1 subject, no between-group test)"``).
    """

    groups: list[dict]
    properties: list[str]
    estimates: list
    differences: list
    n_tests: int
    not_testable: list[str]


def not_learned(learning: list, group: str) -> tuple[int, int]:
    """(runs of ``group`` that did not learn, runs whose learning is known)."""
    known = [r.learned for r in learning if r.group == group and r.learned is not None]
    return sum(not k for k in known), len(known)


def group_learned(learning: list, group: str) -> bool | None:
    """The group rule: True when every known run learned, False when none did, None
    when some did and some did not (each run is marked on its own) or none is known."""
    k, n = not_learned(learning, group)
    return None if n == 0 or 0 < k < n else k == 0


def _untested_pairs(tests, min_n: int, n_subjects: dict) -> list[str]:
    """Each untested pair once, with why: a group with fewer than ``min_n`` subjects
    (no between-group test at all), or the properties measured in too few of them."""
    pairs: dict[tuple[str, str], list] = {}
    for t in tests:
        if t.p_value is None:
            pairs.setdefault((t.group_a, t.group_b), []).append(t)
    out = []
    for (a, b), ts in pairs.items():
        short = [g for g in (a, b) if n_subjects.get(g, 0) < min_n]
        if short:
            n = {g: n_subjects.get(g, 0) for g in short}
            why = "; ".join(f"{g}: {n[g]} subject{'s' if n[g] != 1 else ''}" for g in short)
            out.append(f"{a} vs {b} ({why}, no between-group test)")
            continue
        few = {}
        for t in ts:
            for g, k in ((a, t.subjects_a), (b, t.subjects_b)):
                if k < min_n:
                    few[g] = min(few.get(g, k), int(k))
        props = ", ".join(dict.fromkeys(t.property for t in ts))
        why = "; ".join(f"{g}: a value in {k} of {n_subjects[g]} subjects" for g, k in few.items())
        out.append(f"{a} vs {b} on {props} ({why})" if why else f"{a} vs {b} on {props}")
    return out


def _abstract(
    stats, provenance: dict, learned: dict, inputs: list, learning: list = ()
) -> Abstract:
    groups = []
    for g in stats.groups:
        ins = [i for i in inputs if i.group == g]
        p = provenance[g]
        k, n = not_learned(list(learning), g)
        groups.append(
            dict(
                group=g,
                kind=p.kind,
                n_recordings=len(ins),
                n_subjects=len({i.subject for i in ins}),
                subject_name=p.subject_name,
                learned=learned.get(g),
                runs_not_learned=k,
                runs_known=n,
            )
        )
    est = [
        e
        for prop in ("wave_fraction", "pgd_median")
        for g in stats.groups
        if (e := stats.estimate(prop, g)) is not None
    ]
    run = [t for t in stats.tests if t.p_value is not None]
    sig = sorted((t for t in run if t.significant), key=lambda t: t.p_fdr)[:3]
    untested = _untested_pairs(stats.tests, stats.settings.min_n, stats.n_subjects)
    return Abstract(
        groups=groups,
        properties=list(stats.properties),
        estimates=est,
        differences=sig,
        n_tests=len(run),
        not_testable=untested,
    )


@dataclass
class InputInfo(Result):
    """One measured input of a comparison."""

    group: str
    name: str
    source: str | None
    subject: str
    space_unit: str
    time_unit: str
    n_sites: int
    n_times: int
    fs: float
    band: list[float] | None
    n_dims: int
    learned_velocity: float | None = None
    #: where the subject came from: "given" (subjects=, CLI --subject), "recording" (the
    #: file's own subject: BIDS, NWB, MNE subject_info, a probe's checkpoint) or "file"
    #: (none found: the file name, so each file counts as an independent subject)
    subject_source: str = "given"


@dataclass
class LearningRun(Result):
    """One training run's learning curve (the train lines of its metrics.jsonl)."""

    group: str
    label: str
    file: str
    records: list[dict]
    final_step: int
    final_loss: float | None
    final_char_acc: float | None
    final_exact_acc: float | None
    steps_to_95_exact: int | None
    seconds_to_95_exact: float | None
    #: training loss of a uniform guess over the task's output letters (ln 26 for the
    #: copy task), None when the task is not known
    chance_loss: float | None = None
    #: final loss under NOT_LEARNED_LOSS x chance_loss; None when either is unknown
    learned: bool | None = None


@dataclass
class ReferenceSection(Result):
    """A published speed density and each physical group compared with it."""

    distribution: dict
    groups: list[ReferenceComparison]
    speed: np.ndarray
    density: np.ndarray
    label: str

    def to_json(self) -> dict:
        return jsonable({"distribution": self.distribution, "groups": self.groups})


@dataclass
class LearnedVelocityCheck(Result):
    """Measured against learned velocity for one group of captures that carry one.

    Each capture's measured speed (``speed_median``) is paired with its own learned
    velocity (``meta["velocity"]`` of a v-Wave capture, sites/step); captures where either
    is missing are left out.

    Attributes
    ----------
    group : str
    n : int
        Captures paired.
    learned_min, learned_max : float
        Range of the learned velocities, ``unit``.
    error_max, error_median : float
        ``100 * |measured / learned - 1|``, percent, over the pairs.
    unit : str
    """

    group: str
    n: int
    learned_min: float
    learned_max: float
    error_max: float
    error_median: float
    unit: str


def _learned_checks(table, units: dict) -> list[LearnedVelocityCheck]:
    """One :class:`LearnedVelocityCheck` per group whose rows pair a finite measured speed
    with a learned velocity (the table's ``learned_velocity_error`` column)."""
    out = []
    for g in dict.fromkeys(table.group):
        sub = table[(table.group == g) & np.isfinite(table.learned_velocity_error)]
        if len(sub):
            lv, err = (
                sub.learned_velocity.to_numpy(float),
                sub.learned_velocity_error.to_numpy(float),
            )
            out.append(
                LearnedVelocityCheck(
                    g, len(sub), float(lv.min()), float(lv.max()), float(err.max()),
                    float(np.median(err)), units[g],
                )
            )  # fmt: skip
    return out


@dataclass
class ComparisonFigures:
    """What the report's figures draw (arrays kept out of the JSON).

    Attributes
    ----------
    spacetime : dict
        ``{group: (WaveField, measured speed or None, learned velocity or None)}``:
        the first recording of each group (the learned velocity of a v-Wave capture,
        sites/step, from its ``meta["velocity"]``).
    snapshots : dict
        ``{group: PhaseSnapshot}`` of the group's most wave-like recording.
    pgd : dict
        ``{group: [(times, pgd, threshold, time_unit), ...]}``, one per recording.
    speeds : dict
        ``{group: speeds}`` in ``speed_unit`` (sites per cycle when units are mixed).
    speed_unit : str
    physical_speeds : dict
        ``{group: speeds in m/s}`` of the physical groups (for the reference overlay).
    directions : dict
        ``{group: directions (rad)}`` of the 2-D groups; ``forward`` the forward
        fractions per recording of the 1-D groups.
    forward : dict
    properties : dict
        ``{property: {group: values per recording}}`` with ``property_units``.
    property_units : dict
    """

    spacetime: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)
    pgd: dict = field(default_factory=dict)
    speeds: dict = field(default_factory=dict)
    speed_unit: str = ""
    physical_speeds: dict = field(default_factory=dict)
    directions: dict = field(default_factory=dict)
    forward: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    property_units: dict = field(default_factory=dict)
    #: {group: recordings with a speed} of the groups left out of the speed figures
    #: (fewer than MIN_USABLE: a density of one or two recordings is not the group's)
    speeds_left_out: dict = field(default_factory=dict)
    #: {group: (times, median PGD over its recordings)} where they share a time axis
    pgd_median: dict = field(default_factory=dict)
    #: {group: (steps, median loss, median exact accuracy)} over a group's training runs
    #: where they log the same steps (two runs or more)
    learning_median: dict = field(default_factory=dict)


@dataclass
class ComparisonResult(Result):
    """Everything a comparison found; ``to_json()`` is the JSON written next to the report."""

    wavescope_version: str
    created: str
    settings: dict
    inputs: list[InputInfo]
    groups: list[str]
    units: dict[str, str]
    recordings: list[dict]
    stats: GroupComparison
    reference: ReferenceSection | None
    learning: list[LearningRun]
    memory: MemoryComparison | None
    messages: list[str]
    figures: ComparisonFigures = field(default_factory=ComparisonFigures)
    report: str | None = None
    json: str | None = None
    learned_velocity: list[LearnedVelocityCheck] = field(default_factory=list)
    #: said in the report's first lines where files stood in for subjects (None: never)
    subject_note: str | None = None
    #: {group: where its inputs came from}
    provenance: dict[str, Provenance] = field(default_factory=dict)
    #: whether each group's recordings share a direction (one test per group)
    directions: list[DirectionTest] = field(default_factory=list)
    #: {group: True when every training run of it learned its task, False when none did,
    #: None when not trained, not known, or some runs did and some did not (per run in
    #: ``learning``)}
    learned: dict[str, bool | None] = field(default_factory=dict)
    abstract: Abstract | None = None

    def to_json(self) -> dict:
        out = {
            k: jsonable(getattr(self, k))
            for k in (
                "wavescope_version", "created", "settings", "inputs", "groups", "units",
                "recordings", "reference", "learning", "memory", "messages", "report", "json",
                "learned_velocity", "subject_note", "provenance", "directions", "learned",
                "abstract",
            )
        }  # fmt: skip
        s = self.stats.to_json()
        out.update(properties=s["properties"], summaries=s["summaries"], tests=s["tests"])
        out["n_subjects"] = s["n_subjects"]
        return out

    def inputs_of(self, group: str) -> list[InputInfo]:
        return [i for i in self.inputs if i.group == group]

    def direction_test(self, group: str) -> DirectionTest | None:
        return next((d for d in self.directions if d.group == group), None)


def _subject_note(inputs: list[InputInfo]) -> str | None:
    """The sentence that says which groups counted each file as its own subject."""
    groups = list(dict.fromkeys(i.group for i in inputs if i.subject_source == "file"))
    if not groups:
        return None
    return (
        f"Each file of {', '.join(repr(g) for g in groups)} was treated as an independent "
        "subject: no subject was given (CLI: --subject GROUP=S1,S2,...) or stored in the "
        "files (BIDS subject, NWB subject_id, MNE subject_info, a probe's checkpoint). If "
        "several files come from one animal, session or model, the tests below overstate "
        "the evidence; give the subjects."
    )


@dataclass
class ComparedRecording:
    """One input of a comparison: where it came from, whose it is, and once measured its
    :class:`~wavescope.pipelines.recording.RecordingResult`.

    Attributes
    ----------
    group, name : str
        Its group and its name in the table (file name, or the field's ``meta["name"]``).
    source : str or None
        The path it was read from (None for a field given in memory).
    field : WaveField
    subject : str
        The unit of replication it belongs to.
    subject_source : {"given", "recording", "file"}
        Where the subject came from: ``subjects=``, the file's own, or its file name.
    measured : RecordingResult, optional
    """

    group: str
    name: str
    source: str | None
    field: WaveField
    subject: str = ""
    subject_source: str = "file"
    measured: RecordingResult | None = None

    @property
    def result(self) -> VelocityResult:
        return self.measured.result

    @property
    def learned_velocity(self) -> float:
        """The learned velocity the capture carries (``meta["velocity"]``), NaN when none."""
        return _learned(self.field)


def _expand(group: str, items, read=None) -> list[ComparedRecording]:
    """The inputs of a group as records (globs expanded; files read), subjects not yet set."""
    if isinstance(items, (WaveField, str, os.PathLike)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, WaveField):
            name = str(item.meta.get("name", f"{group}-{len(out)}"))
            out.append(ComparedRecording(group, name, None, item))
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise WaveTypeError(
                f"group {group!r}: input {item!r} is a {type(item).__name__}; give a WaveField "
                "or a path to a recording or .npz."
            )
        s = os.fspath(item)
        paths = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        if not paths:
            raise WaveInputError(f"group {group!r}: the pattern {s!r} matches no file.")
        out += [ComparedRecording(group, Path(p).name, p, read_input(p, read)) for p in paths]
    if not out:
        raise WaveInputError(f"group {group!r} has no inputs.")
    return out


def _set_subjects(recs: list[ComparedRecording], given: list | None) -> None:
    """Each record's subject: given, else the recording's own, else its file name."""
    if given is not None:
        given = [str(x) for x in given]
        if len(given) != len(recs):
            raise WaveInputError(
                f"group {recs[0].group!r}: {len(given)} subjects for {len(recs)} recordings."
            )
    for i, r in enumerate(recs):
        if given:
            r.subject, r.subject_source = given[i], "given"
        elif r.field.meta.get("subject"):
            r.subject, r.subject_source = str(r.field.meta["subject"]), "recording"
        else:
            r.subject, r.subject_source = r.name, "file"


def _read_groups(groups: dict, subjects: dict | None, read) -> list[ComparedRecording]:
    """Every group's inputs as records with their subjects; one unit class per group."""
    if not isinstance(groups, dict) or not groups:
        raise WaveInputError("groups must be a non-empty mapping {group: [inputs]}.")
    recs = []
    for g, items in groups.items():
        g = str(g)
        expanded = _expand(g, items, read)
        _set_subjects(expanded, (subjects or {}).get(g))
        if len({unit_class(r.field.space_unit, r.field.time_unit) for r in expanded}) > 1:
            units = sorted({r.field.speed_unit for r in expanded})
            raise WaveInputError(
                f"group {g!r} mixes recordings in {units}: one group must share its units "
                "(put cortex and model states in separate groups)."
            )
        recs += expanded
    return recs


def _group_bands(band, gnames: list[str], gclass: dict) -> dict:
    """The pass band of each group (None: automatic)."""
    if isinstance(band, dict):
        unknown = sorted(set(band) - set(gnames))
        if unknown:
            raise WaveInputError(f"band given for unknown group(s) {unknown}; groups: {gnames}.")
        return {g: (None if band.get(g) is None else tuple(band[g])) for g in gnames}
    if band is not None and len({c[1] for c in gclass.values()}) > 1:
        raise WaveInputError(
            "one band for groups with different time units (Hz against cycles/step) cannot "
            "fit both; give a band per group ({group: (lo, hi)}) or none (automatic)."
        )
    return {g: (None if band is None else tuple(band)) for g in gnames}


def _measure(recs, bands: dict, method: str, velocity_kw: dict, progress: bool) -> None:
    """Measure every record through :func:`measure_recording` (its ``measured``)."""
    from tqdm import tqdm

    options = {
        g: VelocityOptions(band=b, method=method, extra=dict(velocity_kw)) for g, b in bands.items()
    }
    for r in tqdm(recs, desc="measure", unit="rec", disable=not progress):
        r.measured = measure_recording(r.field, options[r.group])
        r.measured.summary.input = r.source


def _tabulate(recs: list[ComparedRecording], gclass: dict):
    """The property table (one row per record), with each capture's learned velocity and
    the measured speed's error against it on its own row (never paired by position)."""
    import pandas as pd

    from wavescope.pipelines.properties import wave_properties

    parts = []
    for cls in dict.fromkeys(gclass.values()):
        sel = [r for r in recs if gclass[r.group] == cls]
        part = wave_properties(
            [(r.result, r.field) for r in sel],
            [r.group for r in sel],
            names=[r.name for r in sel],
            subjects=[r.subject for r in sel],
        )
        part["learned_velocity"] = [r.learned_velocity for r in sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            part["learned_velocity_error"] = 100 * np.abs(
                part.speed_median.to_numpy(float) / part.learned_velocity.to_numpy(float) - 1
            )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def check_report_paths(report, json_path=None, overwrite: bool = False) -> tuple[Path, Path]:
    """The report's HTML and JSON paths, checked before any work."""
    report = Path(report)
    if not report.name or report.suffix.lower() not in (".html", ".htm"):
        raise WaveInputError(f"the report {str(report)!r} must name an .html file.")
    if json_path is not None and not Path(json_path).name:
        raise WaveInputError(f"the JSON {str(json_path)!r} must name a .json file.")
    json_path = Path(json_path) if json_path is not None else report.with_suffix(".json")
    if json_path.resolve() == report.resolve():
        raise WaveInputError("the JSON and the HTML report must be different files.")
    return (
        check_output_path(report, overwrite, option="--report"),
        check_output_path(json_path, overwrite, option="--json"),
    )


def _learning(group: str, path) -> LearningRun:
    from wavescope.io.metrics import read_metrics, steps_to_threshold

    recs = read_metrics(path, "train", required=True)
    p = Path(path)
    label = p.name if p.is_dir() else (p.parent.name or p.name)
    last = recs[-1]
    chance = _chance_loss(p if p.is_dir() else p.parent)
    loss = last.get("loss")
    s95 = steps_to_threshold(recs)
    t95 = next((r.get("time") for r in recs if r["step"] == s95), None) if s95 else None
    return LearningRun(
        group=group,
        label=label,
        file=os.fspath(path),
        records=recs,
        final_step=int(last["step"]),
        final_loss=last.get("loss"),
        final_char_acc=last.get("char_acc"),
        final_exact_acc=last.get("exact_acc"),
        steps_to_95_exact=s95,
        seconds_to_95_exact=t95,
        chance_loss=chance,
        learned=None if chance is None or loss is None else bool(loss < NOT_LEARNED_LOSS * chance),
    )


def _chance_loss(run_dir: Path) -> float | None:
    """ln(letters) of the run's task (its run.json), None when the task is not known."""
    import json

    try:
        task = json.loads((run_dir / "run.json").read_text()).get("task") or {}
    except (OSError, ValueError):
        return None
    if task.get("name") != "copy":
        return None
    return float(np.log(int(task.get("n_letters", COPY_LETTERS))))


def run_comparison(
    groups: dict,
    *,
    band: tuple[float, float] | dict | None = None,
    method: str | None = "auto",
    metrics: dict | None = None,
    memory: dict | None = None,
    reference=None,
    subjects: dict | None = None,
    provenance: dict | None = None,
    velocity_kw: dict | None = None,
    read=None,
    n_permutations: int = 9999,
    n_boot: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> ComparisonResult:
    """Measure and compare groups of recordings or hidden-state captures.

    Parameters
    ----------
    groups : dict
        ``{group: [inputs]}``; an input is a :class:`~wavescope.core.field.WaveField`
        or a path (any file ``wavescope velocity`` reads, e.g. the .npz ``wavescope
        probe`` writes); globs are expanded. Recordings in one group must share units.
    band : (lo, hi) or dict, optional
        Pass band in cycles per time unit, or ``{group: (lo, hi)}`` per group (groups
        left out use the automatic band). One band for groups with different time
        units (Hz against cycles/step) is refused.
    method : str
        Velocity method (default ``"auto"``: chosen per recording from the data, see
        :func:`wavescope.waves.velocity.choose_method`).
    metrics : dict, optional
        ``{group: [metrics.jsonl files or run folders]}`` for learning curves.
    memory : dict, optional
        ``{group: [memory-curve JSON files, summary dicts or MemoryCurve objects]}``.
    reference : SpeedDensity or path, optional
        A reference speed density (e.g. :func:`wavescope.datasets.read_davis2021_speeds`);
        groups in physical units are compared with it.
    subjects : dict, optional
        ``{group: [subject per input]}`` (animal, session, model checkpoint and seed).
        Default: each input's ``meta["subject"]`` (what ``wavescope probe`` writes),
        else its file name. Tests need 3 subjects per group; repeated subjects go
        through the mixed model.
    provenance : dict, optional
        ``{group: Provenance}``: simulated (generator and truth), recorded (source) or
        trained model (checkpoint). Groups left out are described from their inputs (a
        checkpoint in a capture's meta: trained model; a stored truth: simulated; else
        "unstated", never assumed recorded).
    velocity_kw : dict, optional
        Further options of ``measure_velocity``.
    read : ReadOptions, optional
        How files are read (picks, projection, extra bad channels).
    n_permutations, n_boot, seed
        Of the statistics.
    progress : bool
        Show a progress bar over the inputs.

    Returns
    -------
    ComparisonResult
    """
    from wavescope import __version__
    from wavescope.stats.compare import compare_groups

    method = method or "auto"
    check_option("method", method, ("auto",) + METHODS)
    recs = _read_groups(groups, subjects, read)
    gnames = list(dict.fromkeys(r.group for r in recs))
    first = {g: next(r for r in recs if r.group == g) for g in gnames}
    gclass = {g: unit_class(first[g].field.space_unit, first[g].field.time_unit) for g in gnames}
    bands = _group_bands(band, gnames, gclass)
    mixed_units = len(set(gclass.values())) > 1
    _measure(recs, bands, method, velocity_kw or {}, progress)
    table = _tabulate(recs, gclass)
    units = {g: str(table.loc[table.group == g, "speed_median_unit"].iloc[0]) for g in gnames}

    stats = compare_groups(
        table, subject_col="subject", n_permutations=n_permutations, n_boot=n_boot, seed=seed
    )
    messages = list(stats.messages)
    if mixed_units:
        messages.insert(
            0,
            "Groups come in different units ("
            + ", ".join(f"{g}: {units[g]}" for g in gnames)
            + "): they are compared on the dimensionless properties; raw properties only "
            "among groups sharing a unit.",
        )
    ref_section = _reference_section(reference, table, gnames, units, messages)
    learning = _learning_runs(metrics)
    mem = _memory_comparison(memory, n_permutations, n_boot, seed)
    if mem is not None:
        messages += [m for m in mem.messages if m not in messages]
    figures = _figure_data(recs, table, gnames, units, stats)
    figures.learning_median = _learning_median(learning)
    inputs = [_input_info(r) for r in recs]
    prov = _provenances(provenance, gnames, inputs, recs)
    learned = _learned_groups(learning, gnames)
    return ComparisonResult(
        provenance=prov,
        learned=learned,
        directions=_direction_tests(
            table, gnames, {g: first[g].field.n_dims for g in gnames}, stats.settings.alpha
        ),
        abstract=_abstract(stats, prov, learned, inputs, learning),
        subject_note=_subject_note(inputs),
        wavescope_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings={
            "method": method,
            "band": {g: list(b) if b else None for g, b in bands.items()},
            "units_mixed": mixed_units,
            "speed_figure_unit": figures.speed_unit,
            **stats.settings.to_json(),
        },
        inputs=inputs,
        groups=gnames,
        units=units,
        recordings=jsonable(table.to_dict("records")),
        stats=stats,
        reference=ref_section,
        learning=learning,
        memory=mem,
        messages=list(dict.fromkeys(messages)),
        figures=figures,
        learned_velocity=_learned_checks(table, units),
    )


def _reference_section(reference, table, gnames, units, messages) -> ReferenceSection | None:
    """Each group's speeds against the reference density (groups whose units cannot be
    compared with it are skipped with a message)."""
    if reference is None:
        return None
    from wavescope.datasets.davis2021 import read_davis2021_speeds
    from wavescope.stats.compare import compare_reference

    ref = (
        read_davis2021_speeds(reference) if isinstance(reference, (str, os.PathLike)) else reference
    )
    comps = []
    for g in gnames:
        sub = table[table.group == g]
        try:
            comps.append(compare_reference(sub["speed_median"].to_numpy(), units[g], ref, group=g))
        except WaveInputError as exc:
            messages.append(f"reference comparison skipped: {exc}")
    return ReferenceSection(
        ref.summary(), comps, ref.speed, ref.density, "Davis et al. 2021 (marmoset MT)"
    )


def _learning_runs(metrics: dict | None) -> list[LearningRun]:
    learning = []
    for g, files in (metrics or {}).items():
        files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        learning += [_learning(str(g), p) for p in files]
    return learning


def _memory_comparison(memory: dict | None, n_permutations: int, n_boot: int, seed: int):
    """The memory curves' comparison (files read, objects and dicts taken as they are)."""
    if not memory:
        return None
    from wavescope.io.curves import read_memory_curves
    from wavescope.stats.memory import compare_memory

    curves, cfiles = {}, {}
    for g, items in memory.items():
        items = [items] if isinstance(items, (str, os.PathLike, dict)) else list(items)
        cs, fs = [], []
        for it in items:
            if isinstance(it, (str, os.PathLike)):
                found = read_memory_curves(it)
                cs += found
                fs += [os.fspath(it)] * len(found)
            else:
                cs.append(it)
                fs.append(None)
        curves[str(g)], cfiles[str(g)] = cs, fs
    return compare_memory(
        curves, files=cfiles, n_permutations=n_permutations, n_boot=n_boot, seed=seed
    )


def _input_info(r: ComparedRecording) -> InputInfo:
    f, res = r.field, r.result
    return InputInfo(
        r.group,
        r.name,
        r.source,
        r.subject,
        f.space_unit,
        f.time_unit,
        f.n_sites,
        f.n_times,
        f.fs,
        None if res.band is None else [float(b) for b in res.band],
        f.n_dims,
        None if np.isnan(r.learned_velocity) else r.learned_velocity,
        r.subject_source,
    )


def _provenances(provenance: dict | None, gnames, inputs, recs) -> dict:
    """Each group's provenance: given, or described from its inputs."""
    unknown = sorted(set(provenance or {}) - set(gnames))
    if unknown:
        raise WaveInputError(f"provenance given for unknown group(s) {unknown}; groups: {gnames}.")
    prov = {}
    for g in gnames:
        given = (provenance or {}).get(g)
        if given is not None and not isinstance(given, Provenance):
            raise WaveTypeError(
                f"provenance[{g!r}] is a {type(given).__name__}; give a Provenance "
                "(Provenance.simulated(...), Provenance.recorded(...))."
            )
        prov[g] = given or _provenance(
            g, [i for i in inputs if i.group == g], [r.field for r in recs if r.group == g]
        )
    return prov


def _learned_groups(learning: list[LearningRun], gnames) -> dict[str, bool | None]:
    """Per group, :func:`group_learned` (None for groups that were not trained)."""
    return {g: group_learned(learning, g) for g in gnames}


def _learning_median(learning: list[LearningRun]) -> dict:
    """Per group, the median loss and exact accuracy over its runs at each logged step
    (only where every run logged the same steps)."""
    out = {}
    for g in dict.fromkeys(r.group for r in learning):
        runs = [r for r in learning if r.group == g]
        steps = [tuple(x["step"] for x in r.records) for r in runs]
        if len(runs) < 2 or len(set(steps)) != 1:
            continue

        loss, acc = (
            np.array([[np.nan if x.get(k) is None else x[k] for x in r.records] for r in runs])
            for k in ("loss", "exact_acc")
        )
        with warnings.catch_warnings():  # a step no run logged a value at stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[g] = (
                np.array(steps[0], float),
                np.nanmedian(loss.astype(float), axis=0),
                np.nanmedian(acc.astype(float), axis=0),
            )
    return out


def _learned(f: WaveField) -> float:
    """The learned velocity a capture carries (``meta["velocity"]``), NaN when none."""
    v = f.meta.get("velocity")
    return np.nan if v is None else float(v)


def _subsample(v: np.ndarray, rng) -> np.ndarray:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return v if v.size <= MAX_FIGURE_SAMPLES else rng.choice(v, MAX_FIGURE_SAMPLES, False)


def _figure_data(recs, table, gnames, units, stats) -> ComparisonFigures:
    rng = np.random.default_rng(0)
    dimless = len(set(units.values())) > 1
    fig = ComparisonFigures(speed_unit="sites/cycle" if dimless else next(iter(units.values())))
    for g in gnames:
        sel = [r for r in recs if r.group == g]
        _spacetime_and_pgd(fig, sel, table)
        # the distributions of what the table reports: wave-epoch estimates where epochs
        # were computed, and only recordings that have a speed (none without waves)
        told = [r for r in sel if np.isfinite(_table_value(table, g, r.name, "speed_median"))]
        if len(told) < MIN_USABLE:
            fig.speeds_left_out[g] = len(told)
            told = []
        _distributions(fig, g, [r.result for r in told], units[g], dimless, rng)
        if sel[0].field.n_dims != 2:
            fig.forward[g] = table.loc[table.group == g, "forward_fraction"].to_numpy(float)
    for prop, info in stats.properties.items():
        if info.kind == "raw":
            continue
        fig.properties[prop] = {
            g: table.loc[table.group == g, prop].to_numpy(float) for g in info.units
        }
        fig.property_units[prop] = str(table[prop + "_unit"].iloc[0])
    return fig


def _spacetime_and_pgd(fig: ComparisonFigures, sel: list[ComparedRecording], table) -> None:
    """A group's space-time example (its first recording), best phase snapshot and PGD."""
    g, r0 = sel[0].group, sel[0]
    f0, results = r0.field, [r.result for r in sel]
    # the speed the table reports for this recording (None where it has no wave)
    sp0 = _table_value(table, g, r0.name, "speed_median")
    learned = f0.meta.get("velocity")
    fig.spacetime[g] = (
        f0,
        sp0 if np.isfinite(sp0) and f0.n_dims == 1 else None,
        None if learned is None else float(learned),
    )
    best = max(
        (r for r in results if r.snapshot is not None),
        key=lambda r: float(np.nanmax(np.where(r.valid, r.pgd, -1))),
        default=None,
    )
    if best is not None:
        fig.snapshots[g] = best.snapshot
    fig.pgd[g] = [(r.times[r.valid], r.pgd[r.valid], r.threshold, r.time_unit) for r in results]
    times = [r.times for r in results]
    if len(results) > 1 and all(t.shape == times[0].shape for t in times):
        stack = np.array([np.where(r.valid, r.pgd, np.nan) for r in results])
        with warnings.catch_warnings():  # a sample valid in no recording stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(stack, axis=0)
        fig.pgd_median[g] = (times[0], med)


def _distributions(fig: ComparisonFigures, g: str, told, unit: str, dimless: bool, rng) -> None:
    """A group's speed (and, in 2-D, direction) distributions from the results told."""
    empty = [np.empty(0)]
    if dimless:
        sp = np.concatenate([r.sites_per_cycle() for r in told] + empty)
    else:
        sp = np.concatenate([r.estimates()[0] for r in told] + empty)
    fig.speeds[g] = _subsample(sp, rng)
    k = speed_scale(unit, "m/s")
    if k is not None:
        fig.physical_speeds[g] = _subsample(
            np.concatenate([r.estimates()[0] for r in told] + empty) * k, rng
        )
    if fig.spacetime[g][0].n_dims == 2:
        fig.directions[g] = _subsample(
            np.concatenate([r.estimates()[1] for r in told] + empty), rng
        )


def _table_value(table, group: str, name: str, column: str) -> float:
    """One recording's value in the property table (NaN when absent or undefined)."""
    row = table[(table.group == group) & (table.name == name)]
    return float(row[column].iloc[0]) if len(row) else np.nan


def write_comparison(
    result: ComparisonResult, html: str, report, json_path=None, *, overwrite=False
):
    """Write the rendered report and its JSON (atomically); record their paths in ``result``.

    Returns
    -------
    (Path, Path)
        The HTML and JSON paths written.
    """
    from wavescope.pipelines.outputs import save

    report_p, json_p = check_report_paths(report, json_path, overwrite)
    result.report, result.json = os.fspath(report_p), os.fspath(json_p)
    save(json_p, result)
    save(report_p, html)
    return report_p, json_p
