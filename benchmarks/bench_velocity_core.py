"""The velocity core route against its FFT floor, before and after a change, side by side.

    .venv/bin/python benchmarks/bench_velocity_core.py --before DIR [--sizes 16x60,64x600]

Issue 21, item 5. The jobs are ``bench_velocity.py``'s ``floor`` and ``wavescope-core``
(``measure_velocity(field, (8, 12), n_surrogates=0, patterns=False)`` and its summary),
each in a fresh child process, best of ``--reps`` for time and largest peak (``VmHWM``
above the resident set before the input is loaded, so it includes the input). ``core``
runs this checkout's wavescope, ``before`` the tree at ``DIR`` (e.g. ``git archive main``
unpacked); ``phase_after`` / ``phase_before`` the same with ``method="phase-gradient"``
(the phase route alone, no cross-check; ``--no-phase`` skips them). The jobs of one size
are interleaved (floor, after, before, ...), so that a changing load hits them alike;
each reports its wall and CPU time. A CPU-time profile of the core route at the smallest size
(one process, this checkout) says where its time goes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

HERE = Path(__file__).resolve().parent


def _job(tool: str, path: str, side: int, tree: str | None) -> dict:
    env = None if tree is None else {"PYTHONPATH": os.pathsep.join([tree, str(HERE)])}
    return bl.run_child(
        [HERE / "bench_velocity.py", "--child", tool, "--input", path, "--side", side],
        600,
        env=env,
    )


def measure(sizes, before: str | None, reps: int, log=print, phase: bool = True) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wavescope-core-") as tmp:
        for sites, seconds in sizes:
            side = math.isqrt(sites)
            path = os.path.join(tmp, f"x_{sites}_{seconds:g}.npy")
            gen = bl.run_child(
                [HERE / "bench_velocity.py", "--generate", path, "--side", side,
                 "--seconds", seconds], 600,
            )  # fmt: skip
            jobs = {"floor": ("floor", None), "after": ("wavescope-core", None)}
            if before:
                jobs["before"] = ("wavescope-core", before)
            if phase:
                jobs["phase_after"] = ("wavescope-phase", None)
                if before:
                    jobs["phase_before"] = ("wavescope-phase", before)
            runs = {k: [] for k in jobs}
            for _ in range(reps):
                for name, (tool, tree) in jobs.items():
                    runs[name].append(_job(tool, path, side, tree))
            row = {"sites": sites, "seconds": seconds, "input_mb": gen["input_mb"]}
            for name, rs in runs.items():
                bad = [r["error"] for r in rs if "error" in r]
                if bad:
                    row[name] = {"error": bad[0]}
                    continue
                row[name] = {
                    "seconds": min(r["seconds"] for r in rs),
                    "seconds_all": [round(r["seconds"], 4) for r in rs],
                    "cpu_seconds": min(r.get("cpu_seconds", math.nan) for r in rs),
                    "peak_mb": max(r["peak_mb"] for r in rs),
                    "accuracy": rs[0].get("accuracy"),
                }
            fl, fl_cpu = row["floor"].get("seconds"), row["floor"].get("cpu_seconds")
            row["floor"]["peak_over_input"] = bl.ratio(row["floor"].get("peak_mb"), row["input_mb"])
            for name in ("before", "after", "phase_before", "phase_after"):
                if name in row and "seconds" in row[name]:
                    r = row[name]
                    r["time_over_floor"] = bl.ratio(r["seconds"], fl)
                    r["cpu_over_floor"] = bl.ratio(r["cpu_seconds"], fl_cpu)
                    r["peak_over_input"] = bl.ratio(r["peak_mb"], row["input_mb"])
            row["load_after"] = [round(x, 2) for x in os.getloadavg()]
            log(json.dumps(row))
            rows.append(row)
            os.remove(path)
    return rows


def profile_small(sites: int = 16, seconds: float = 60.0, top: int = 12) -> str:
    """CPU-time profile (cProfile, ``time.process_time``) of the core route, this checkout."""
    code = f"""
import cProfile, io, pstats, sys, time, numpy as np
sys.path.insert(0, {str(HERE)!r})
import bench_velocity as bv
bv._generate("/tmp/_core_prof.npy", {math.isqrt(sites)}, {seconds})
x = np.load("/tmp/_core_prof.npy")
bv._job_wavescope(x, {math.isqrt(sites)}, False)  # warm: lazy imports, FFT plans
pr = cProfile.Profile(time.process_time); pr.enable()
bv._job_wavescope(x, {math.isqrt(sites)}, False)
pr.disable(); s = io.StringIO()
pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats({top}); print(s.getvalue())
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE)]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return out.stdout + out.stderr[-2000:]


def markdown(rows, before: str | None, load_start, load_end, cmd: str) -> list[str]:
    md = [
        "# Velocity core route against its FFT floor (issue 21, item 5)",
        "",
        f"Command: `{cmd}`",
        "",
        f"Load average (1, 5, 15 min) at start {load_start}, at end {load_end}; the shared "
        "2-core machine. Best of the repeats for time, largest peak; 'before' is the tree "
        f"at `{before}`, 'after' this checkout, measured interleaved in one run.",
        "",
        "| sites x duration | input MB | floor s | before s | after s | before / floor | "
        "after / floor | before peak / input | after peak / input | after / before time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, a, f = r.get("before", {}), r.get("after", {}), r["floor"]
        md.append(
            f"| {r['sites']} x {r['seconds']:g} s | {r['input_mb']:.1f} | "
            f"{bl.fmt(f.get('seconds'), '.3f')} | {bl.fmt(b.get('seconds'), '.3f')} | "
            f"{bl.fmt(a.get('seconds'), '.3f')} | {bl.fmt_ratio(b.get('time_over_floor'))} | "
            f"{bl.fmt_ratio(a.get('time_over_floor'))} | "
            f"{bl.fmt_ratio(b.get('peak_over_input'))} | "
            f"{bl.fmt_ratio(a.get('peak_over_input'))} | "
            f"{bl.fmt_ratio(bl.ratio(a.get('seconds'), b.get('seconds')))} |"
        )
    if any("phase_after" in r for r in rows):
        md += _phase_table(rows)
    return md


def _ms(job: dict, key: str) -> str:
    v = job.get(key)
    return "-" if v is None or not math.isfinite(v) else f"{1e3 * v:.1f}"


def _phase_table(rows) -> list[str]:
    """Wall and CPU time (ms, best of the repeats) and peak of each job, the phase route
    alone (``method="phase-gradient"``) next to the core route, each against the floor."""
    md = [
        "",
        "Each job's best wall time and best CPU time (`time.process_time`: every thread of "
        "the process, so the floor's two FFT workers add up), ms, and its ratio to the "
        "floor's; peak over the input. 'phase' is the core route with "
        '`method="phase-gradient"` (no xcorr cross-check).',
        "",
        "| sites x duration | job | wall ms | CPU ms | wall / floor | CPU / floor | peak / input |",
        "|---|---|---|---|---|---|---|",
    ]
    names = ("floor", "before", "after", "phase_before", "phase_after")
    for r in rows:
        for name in names:
            j = r.get(name)
            if not j or "seconds" not in j:
                continue
            md.append(
                f"| {r['sites']} x {r['seconds']:g} s | {name.replace('_', ' ')} | "
                f"{_ms(j, 'seconds')} | {_ms(j, 'cpu_seconds')} | "
                f"{bl.fmt_ratio(j.get('time_over_floor', 1.0))} | "
                f"{bl.fmt_ratio(j.get('cpu_over_floor', 1.0))} | "
                f"{bl.fmt_ratio(j.get('peak_over_input'))} |"
            )
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default=None, help="a wavescope tree to compare against")
    ap.add_argument("--sizes", default="16x60,64x60,16x600,64x600,256x600")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-phase", action="store_true", help='skip the method="phase-gradient" jobs')
    ap.add_argument("--out", type=Path, default=None, help="results stem (.md and .json)")
    args = ap.parse_args(argv)
    sizes = [(int(a), float(b)) for a, b in (s.split("x") for s in args.sizes.split(","))]
    load_start = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    rows = measure(sizes, args.before, args.reps, phase=not args.no_phase)
    prof = profile_small(*sizes[0])
    load_end = [round(x, 2) for x in os.getloadavg()]
    cmd = "python benchmarks/bench_velocity_core.py " + " ".join(argv or sys.argv[1:])
    md = markdown(rows, args.before, load_start, load_end, cmd)
    md += ["", f"Where the time goes at {sizes[0][0]} x {sizes[0][1]:g} s (after, CPU time):",
           "", "```", prof.strip(), "```"]  # fmt: skip
    print("\n".join(md))
    if args.out is not None:
        args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
        args.out.with_suffix(".json").write_text(
            json.dumps({"rows": rows, "load": [load_start, load_end],
                        "wall_s": time.perf_counter() - t0}, indent=2) + "\n"
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
