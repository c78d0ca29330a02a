"""Run the defaults over the validation bank and score what they print.

Each record of a bank cell (:mod:`wavescope.datasets.bank`) is measured exactly as
``wavescope velocity FILE`` would measure it: with no options, and with the band given
(``--band f0-2 f0+2``). The score of a record is what a user would report from it: whether
a speed was printed, its error against the truth, the direction's error, the wave
fraction, the route chosen, and whether the speed's interval (where the result carries
one) covers the truth. :func:`score_cells` tabulates per cell; the scorecard script
(``analyses/validation.py``) writes the table and the figure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavescope.core.circular import wrap
from wavescope.core.results import Result
from wavescope.datasets.bank import BankCell, bank_field
from wavescope.pipelines.recording import VelocityOptions, measure_recording

__all__ = ["CellScore", "RecordScore", "score_cells", "score_record"]

#: A printed speed off by more than this factor is a gross error (no speed is better).
GROSS_FACTOR = 1.5


@dataclass
class RecordScore(Result):
    """What the defaults printed for one record, against its truth.

    ``speed_error`` is relative (printed / true - 1); ``direction_error`` in radians,
    wrapped to (-pi, pi]; both None where no speed was printed or the field has no wave.
    ``covered`` is None where the result carries no interval for its speed. ``unit`` is the
    unit the speed was printed in (``"m/s"``, ``"sites/step"``): the truth is in the
    field's own unit, and a printed unit other than the field's is scored as no speed
    error at all (``speed_error`` None, ``unit`` says what was printed).
    """

    cell: str
    seed: int
    band_given: bool
    wave: bool
    method: str | None
    speed: float | None
    true_speed: float | None
    speed_error: float | None
    direction_error: float | None
    wave_fraction: float | None
    covered: bool | None
    unit: str | None = None


def _speed_of(summary: dict) -> float | None:
    s = summary.get("speed")
    v = s.get("median") if isinstance(s, dict) else s
    return float(v) if v is not None and np.isfinite(v) else None


def _interval_of(summary: dict) -> tuple[float, float] | None:
    s = summary.get("speed")
    iv = s.get("interval") if isinstance(s, dict) else None
    if isinstance(iv, dict) and iv.get("low") is not None and iv.get("high") is not None:
        return float(iv["low"]), float(iv["high"])
    return None


def _band_of(truth: dict) -> tuple[float, float] | None:
    """The band a user would give: the cell's own (``truth["band"]``, breadth cells, in
    cycles per the field's time unit), else f0 +-2 Hz; None for a field without one."""
    if truth.get("band") is not None:
        return float(truth["band"][0]), float(truth["band"][1])
    f0 = truth.get("frequency")
    return None if f0 is None else (f0 - 2.0, f0 + 2.0)


def _direction_of(summary: dict) -> float | None:
    """The printed direction, radians: the mean angle, or on a line the majority (forward
    0, backward pi)."""
    d = summary.get("direction") or {}
    if d.get("mean_rad") is not None:
        return float(d["mean_rad"])
    return {"forward": 0.0, "backward": float(np.pi)}.get(d.get("majority"))


def score_record(cell: BankCell, seed: int, band_given: bool) -> RecordScore:
    """Measure one record of ``cell`` with the defaults and score the result.

    Speeds are compared in the field's own unit (m/s for recordings, sites/step for
    model-state lines); the field is measured as ``wavescope velocity`` measures a file
    of it (:func:`~wavescope.pipelines.recording.measure_recording`).
    """
    fld = bank_field(cell, seed)
    truth = fld.meta["truth"]
    band = _band_of(truth) if band_given else None
    summary = measure_recording(fld, VelocityOptions(band=band)).summary.to_json()
    speed = _speed_of(summary)
    s = summary.get("speed")
    unit = s.get("unit") if isinstance(s, dict) else None
    true_speed = truth.get("speed")
    err = dir_err = covered = None
    if speed is not None and true_speed and unit in (None, fld.speed_unit):
        err = speed / true_speed - 1.0
        direction = _direction_of(summary)
        if direction is not None:
            dir_err = float(wrap(direction - truth["direction"]))
        iv = _interval_of(summary)
        if iv is not None:
            covered = iv[0] <= true_speed <= iv[1]
    wf = summary.get("wave_fraction")
    return RecordScore(
        cell.name, int(seed), bool(band_given), bool(truth["wave"]),
        (summary.get("method_choice") or {}).get("reported", summary.get("method")),
        speed, true_speed, err, dir_err,
        None if wf is None else float(wf), covered, unit,
    )  # fmt: skip


@dataclass
class CellScore(Result):
    """A cell's records summarised (the scorecard's row)."""

    cell: dict
    band_given: bool
    n: int
    printed: float
    median_error: float | None
    error_iqr: list | None
    within_15: float | None
    gross: float | None
    median_direction_error_deg: float | None
    wave_fraction: float | None
    coverage: float | None
    methods: dict = field(default_factory=dict)


def summarise(cell: BankCell, records: list[RecordScore]) -> CellScore:
    """Fractions over the records of one cell and mode (see :class:`CellScore`)."""
    n = len(records)
    printed = [r for r in records if r.speed is not None]
    errs = np.array([r.speed_error for r in printed if r.speed_error is not None])
    dirs = np.array([abs(r.direction_error) for r in printed if r.direction_error is not None])
    wf = [r.wave_fraction for r in records if r.wave_fraction is not None]
    cov = [r.covered for r in printed if r.covered is not None]
    methods: dict[str, int] = {}
    for r in records:
        methods[str(r.method)] = methods.get(str(r.method), 0) + 1
    gross = None
    if cell.is_wave and n:
        ratio = np.array([max(1 + e, 1 / (1 + e)) for e in errs]) if errs.size else np.array([])
        gross = float(np.sum(ratio > GROSS_FACTOR) / n)
    return CellScore(
        cell.to_json(), records[0].band_given if records else False, n,
        len(printed) / n if n else 0.0,
        float(np.median(errs)) if errs.size else None,
        [float(q) for q in np.quantile(errs, [0.25, 0.75])] if errs.size else None,
        float(np.mean(np.abs(errs) <= 0.15) * errs.size / n) if errs.size else None,
        gross,
        float(np.degrees(np.median(dirs))) if dirs.size else None,
        float(np.mean(wf)) if wf else None,
        float(np.mean(cov)) if cov else None,
        methods,
    )  # fmt: skip


def score_cells(
    cells: Iterable[BankCell],
    seeds: Iterable[int],
    *,
    band_given: Iterable[bool] = (False, True),
    cache: str | os.PathLike | None = None,
    progress: Callable[[int, int, RecordScore], None] | None = None,
) -> list[CellScore]:
    """Score every record of ``cells`` x ``seeds`` x modes and summarise per cell.

    Parameters
    ----------
    cells : iterable of BankCell
    seeds : iterable of int
    band_given : iterable of bool
        Modes: no options (False) and the band given (True). No-wave cells without an
        oscillation are measured with no options only.
    cache : path, optional
        A JSON-lines file of finished records: records already in it are read back, new
        ones appended as they finish, so a killed run continues where it stopped.
    progress : callable, optional
        ``progress(done, total, record)`` after each record.
    """
    cells, seeds, modes = list(cells), list(seeds), list(band_given)
    done: dict[tuple, RecordScore] = {}
    if cache is not None and Path(cache).exists():
        for line in Path(cache).read_text().splitlines():
            try:
                r = RecordScore(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by a kill
            done[(r.cell, r.seed, r.band_given)] = r
    jobs = [
        (c, s, m)
        for c in cells
        for m in modes
        if not (m and c.kind in ("white", "pink"))
        for s in seeds
    ]
    out: dict[tuple, list[RecordScore]] = {}
    for i, (c, s, m) in enumerate(jobs):
        key = (c.name, s, m)
        if key not in done:
            done[key] = score_record(c, s, m)
            if cache is not None:
                with open(cache, "a") as fh:
                    fh.write(json.dumps(done[key].to_json()) + "\n")
        out.setdefault((c, m), []).append(done[key])
        if progress is not None:
            progress(i + 1, len(jobs), done[key])
    return [summarise(c, recs) for (c, _), recs in out.items()]
