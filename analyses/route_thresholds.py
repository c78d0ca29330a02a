"""The broadband routes' plane thresholds, set on the validation bank (issue 19, item 3).

The event-time and xcorr routes call their delays a wave when a plane fit's F-test
rejects at alpha and the plane explains at least a floor of the delays' variance (R^2).
This script runs both estimators as the automatic route runs them (no band: delays read
from the raw samples) on

- every no-wave class of the bank (``wavescope.datasets.bank``: white, 1/f, synchronous,
  standing, volume-conducted, sequential patches; grid and irregular layouts), where a
  printed speed is a false wave, and
- broadband pulses that travel as planes over the same layouts and backgrounds (one
  Gaussian pulse of 10 ms a second at 0.1-0.6 m/s, peak 2-10 background SDs), which
  must keep their speed,

and writes, per class, the fraction of records whose test passes at each candidate
floor, so that the floor is the lowest that keeps the no-wave classes at or under
alpha + 0.05 (the issue's target for printed speeds) while detecting the pulses.

    .venv/bin/python analyses/route_thresholds.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.datasets.bank import NO_WAVE_KINDS, BankCell, bank_field, layout_extent
from wavescope.waves import event_time_velocity, xcorr_velocity

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA = 0.05
FLOORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
ESTIMATORS = {"event-time": event_time_velocity, "xcorr": xcorr_velocity}


def pulse_field(
    layout: str, background: str, peak_sd: float, seed: int, duration: float = 30.0
) -> WaveField:
    """Plane pulses over a bank layout and background: one 10 ms Gaussian pulse a second
    (jittered), speed 0.1-0.6 m/s in a random direction; truth in ``meta``."""
    cell = BankCell(kind=background, layout=layout, background=background, duration=duration)
    bg = bank_field(cell, seed)
    rng = np.random.default_rng(10_000 + seed)
    speed, theta = rng.uniform(0.1, 0.6), rng.uniform(-np.pi, np.pi)
    pos = bg.positions - bg.positions.mean(0)
    t = np.arange(bg.n_times) / bg.fs
    onsets = np.arange(0.5, bg.duration - 0.5, 1.0) + rng.uniform(-0.1, 0.1, int(bg.duration - 1))
    delay = pos @ np.array([np.cos(theta), np.sin(theta)]) / speed
    clean = np.zeros(bg.data.shape)
    for t0 in onsets:
        clean += np.exp(-0.5 * ((t[None, :] - t0 - delay[:, None]) / 0.01) ** 2)
    data = peak_sd * np.std(bg.data, axis=1, keepdims=True) * clean + bg.data
    truth = {"speed": speed, "direction": theta, "extent": layout_extent(bg.positions)}
    return replace(bg, data=data.astype(np.float32), meta={"truth": truth})


def record(field: WaveField, name: str) -> dict:
    """R^2 and F-test p-value of each estimator on ``field`` (None where it did not run)."""
    out = {}
    for key, fn in ESTIMATORS.items():
        try:
            bb = fn(field)
            out[key] = {
                "r2": float(bb.quality),
                "p": float(bb.details["p_value"]),
                "speed": float(bb.speed),
            }
        except WaveInputError:
            out[key] = None
    truth = field.meta.get("truth", {})
    out["true_speed"] = truth.get("speed") if isinstance(truth.get("speed"), float) else None
    out["class"] = name
    return out


def passes(r: dict | None, floor: float) -> bool:
    return r is not None and r["p"] < ALPHA and r["r2"] >= floor


def table(records: list[dict]) -> str:
    classes = sorted({r["class"] for r in records}, key=lambda c: (c.startswith("pulse"), c))
    lines = []
    for key in ESTIMATORS:
        head = " | ".join(f"R^2 >= {f:g}" for f in FLOORS)
        lines += [
            f"\n**{key}**: share of records whose test passes (p < {ALPHA:g} and R^2 at "
            "least the floor); for pulses, in brackets, the share of those within 5% of the "
            "true speed.\n",
            f"| class | n | median R^2 | {head} |",
            "|---|---|---|" + "---|" * len(FLOORS),
        ]
        for c in classes:
            rs = [r for r in records if r["class"] == c]
            r2 = [r[key]["r2"] for r in rs if r[key] is not None]
            cells = []
            for f in FLOORS:
                ok = [r for r in rs if passes(r[key], f)]
                cell = f"{len(ok) / len(rs):.2f}"
                if rs[0]["true_speed"] is not None:
                    good = [r for r in ok if abs(r[key]["speed"] / r["true_speed"] - 1) <= 0.05]
                    cell += f" ({len(good) / len(rs):.2f})"
                cells.append(cell)
            med = f"{np.median(r2):.3f}" if r2 else "-"
            lines.append(f"| {c} | {len(rs)} | {med} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds a record")
    ap.add_argument("--peaks", type=float, nargs="+", default=[2.0, 5.0, 10.0],
                    help="pulse peaks in background SDs")  # fmt: skip
    ap.add_argument("--out", default=str(RESULTS / "route_thresholds"))
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.time()
    records = []
    for layout in ("grid", "irregular"):
        for kind in NO_WAVE_KINDS:
            bg = "white" if kind == "white" else "pink"
            cell = BankCell(kind, layout=layout, background=bg, snr_db=0.0, duration=a.duration)
            for s in range(a.seeds):
                records.append(record(bank_field(cell, s), cell.name))
                print(cell.name, s, records[-1], file=sys.stderr, flush=True)
        for bg in ("white", "pink"):
            for peak in a.peaks:
                for s in range(a.seeds):
                    name = f"pulses {layout} {bg} {peak:g}sd"
                    records.append(record(pulse_field(layout, bg, peak, s, a.duration), name))
                    print(name, s, records[-1], file=sys.stderr, flush=True)
    wall = time.time() - t0
    out = Path(a.out)
    cmd = "python analyses/route_thresholds.py " + " ".join(argv or sys.argv[1:])
    out.with_suffix(".json").write_text(
        json.dumps({"command": cmd.strip(), "wall_s": round(wall), "records": records}, indent=1)
    )
    md = [
        "# Broadband routes: the plane thresholds on the bank",
        "",
        f"`{cmd.strip()}` ({a.seeds} seeds a class, {wall / 60:.1f} min). Each route run as "
        "the automatic route runs it (no band given), on the bank's no-wave classes and on "
        "plane pulses over the same layouts and backgrounds (`pulse_field`).",
        table(records),
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {out.with_suffix('.md')} in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
