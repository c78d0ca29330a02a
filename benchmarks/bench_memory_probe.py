"""The memory-curve probe at its defaults, before and after a change, side by side.

    .venv/bin/python benchmarks/bench_memory_probe.py CHECKPOINT --before DIR \\
        [--reference EXACT.json] [--reps 2] [--out benchmarks/results/memory_probe_cpu]

Issue 21, item 3. Each run is ``wavescope probe CHECKPOINT --layer 0 --memory-curve``
with its defaults in a fresh process (``OMP_NUM_THREADS=1``), the runs of the two trees
interleaved (before, after, before, after, ...) so that a changing load hits them alike:
wall time, CPU time (user + system of the child, from ``wait4``) and peak resident set
(``ru_maxrss``, the whole process). The process floor is measured the same way: Python
with numpy, scipy and torch imported (what any probe pays), and with scikit-learn too.
A phase profile of one in-process probe (this checkout) gives the CPU time and resident
set after the imports, the model, the state capture and the decoder. ``--reference``:
a JSON with the exact (``exact=True``) curve's ``score`` and ``horizon`` on the same
states, which both trees' curves are compared with (issue 21: the same horizon and every
lag within 0.005).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_measured(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds (user + system) and peak RSS (MB) of it.

    The child runs in the tree its ``PYTHONPATH`` names: ``python -m`` puts the working
    directory first on ``sys.path``, so a 'before' run started from this checkout would
    import this checkout's wavescope, not the tree under test (the runs of 2026-12-07
    06:00 in memory_probe_cpu.md were made that way: both rows ran the same code).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    out = proc.stdout.read().decode(errors="replace")
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "peak_mb": ru.ru_maxrss / 1024,
        "rc": proc.returncode,
        "tail": out.strip().splitlines()[-3:],
    }


def _env(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")


def floors(python: str) -> dict:
    env = _env(ROOT)
    out = {}
    for name, code in [
        ("python + numpy", "import numpy"),
        ("+ scipy", "import numpy, scipy.linalg, scipy.sparse"),
        ("+ scipy + torch", "import numpy, scipy.linalg, scipy.sparse, torch"),
        ("+ scipy + torch + scikit-learn", "import scipy.linalg, torch, sklearn.model_selection"),
    ]:
        out[name] = run_measured([python, "-c", code], env)["peak_mb"]
    return out


PHASES = r"""
import json, resource, sys, time
def mark(name, out=[]):
    st = {l.split(':')[0]: int(l.split()[1]) / 1024 for l in open('/proc/self/status')
          if l.startswith(('VmRSS', 'VmHWM'))}
    r = resource.getrusage(resource.RUSAGE_SELF)
    out.append({"phase": name, "cpu_s": r.ru_utime + r.ru_stime, "rss_mb": st['VmRSS'],
                "peak_mb": st['VmHWM']})
    return out
mark("start")
import numpy, scipy.linalg, scipy.sparse, torch
from wavescope.models.memory_probe import batched_snapshots, random_letters
from wavescope.models.probe import load_model
from wavescope.waves.memory import memory_curve
mark("imports")
model, _ = load_model(sys.argv[1]); model.eval()
mark("model")
tok = random_letters(200, 96, 0)
import inspect
from wavescope.models.memory_probe import model_memory_curve
bs = inspect.signature(model_memory_curve).parameters["batch_size"].default
# as the probe: states above SPILL_BYTES go to a temporary file (trees that have it)
spill = {"spill": None} if "spill" in inspect.signature(batched_snapshots).parameters else {}
with torch.no_grad():
    st = batched_snapshots(model, tok, 0, None, bs, start=48, **spill)
try:
    from wavescope.waves.memory_ridge import release_freed_memory
    release_freed_memory()
except ImportError:
    pass
mark("state capture")
c = memory_curve(st, tok, 48, states_start=48, seed=0)
out = mark("decoder")
out[-1]["rank"] = c.meta["rank"]
out[-1]["sklearn_imported"] = any(m.startswith("sklearn") for m in sys.modules)
print(json.dumps(out))
"""


def phases(python: str, tree: Path, checkpoint: str) -> list[dict]:
    res = subprocess.run([python, "-c", PHASES, checkpoint], env=_env(tree), cwd=str(tree),
                         capture_output=True, text=True)  # fmt: skip
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return [{"error": res.stderr[-500:]}]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--reference", type=Path, default=None)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.checkpoint = os.path.abspath(args.checkpoint)
    args.before = args.before.resolve()
    py = sys.executable
    load0 = [round(x, 2) for x in os.getloadavg()]
    fl = floors(py)
    runs = {"before": [], "after": []}
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for name, tree in (("before", args.before), ("after", ROOT)):
                js = os.path.join(tmp, f"{name}{rep}.json")
                cmd = [py, "-m", "wavescope.cli.main", "probe", args.checkpoint, "--layer",
                       "0", "--memory-curve", "--json", js, "--overwrite"]  # fmt: skip
                la = os.getloadavg()[0]
                r = run_measured(cmd, _env(tree))
                r["load_before"] = round(la, 2)
                r["load_after"] = round(os.getloadavg()[0], 2)
                runs[name].append(r)
                print(name, json.dumps(r), flush=True)
                if r["rc"] == 0:
                    c = json.load(open(js))
                    curves[name] = {"score": c["score"], "horizon": c["horizon"],
                                    "rank": c["meta"].get("rank")}  # fmt: skip
    ph = phases(py, ROOT, args.checkpoint)
    load1 = [round(x, 2) for x in os.getloadavg()]
    ref = json.loads(args.reference.read_text()) if args.reference else None
    md = [
        "# Memory-curve probe, before and after (issue 21, item 3)",
        "",
        f"Command: `python benchmarks/bench_memory_probe.py {' '.join(argv or sys.argv[1:])}`",
        "",
        f"Each run: `wavescope probe {args.checkpoint} --layer 0 --memory-curve --json OUT` "
        "(defaults: 200 sequences x 96 steps, lags 0-48, 5 folds), OMP_NUM_THREADS=1, a "
        f"fresh process. Load average (1, 5, 15 min) at start {load0}, at end {load1} "
        "(the shared 2-core machine); 'before' is the tree at "
        f"`{args.before}`, 'after' this checkout, interleaved.",
        "",
        "| run | load before / after | wall s | CPU s | peak RSS MB (whole process) | "
        "peak above the torch + scipy floor MB |",
        "|---|---|---|---|---|---|",
    ]
    base = fl["+ scipy + torch"]
    for name in ("before", "after"):
        for i, r in enumerate(runs[name]):
            md.append(
                f"| {name} ({i + 1}) | {r['load_before']} / {r['load_after']} | "
                f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | "
                f"{r['peak_mb'] - base:.0f} |"
            )
    best = {k: min(v, key=lambda r: r["cpu_s"]) for k, v in runs.items() if v}
    if len(best) == 2:
        a, b = best["after"], best["before"]
        md += [
            "",
            f"After / before (best of each): CPU {a['cpu_s'] / b['cpu_s']:.2f}x, wall "
            f"{a['wall_s'] / b['wall_s']:.2f}x, peak {a['peak_mb'] / b['peak_mb']:.2f}x.",
        ]
    md += ["", "Process floors (peak RSS of `python -c 'import ...'`, MB):", ""]
    md += [f"- {k}: {v:.0f}" for k, v in fl.items()]
    md += ["", "Phases of one in-process probe (this checkout; cumulative CPU s, RSS MB):", "",
           "| phase | CPU s | RSS MB | peak MB |", "|---|---|---|---|"]  # fmt: skip
    for p in ph:
        if "error" in p:
            md.append(f"| error | {p['error']} | | |")
            continue
        md.append(f"| {p['phase']} | {p['cpu_s']:.1f} | {p['rss_mb']:.0f} | {p['peak_mb']:.0f} |")
    if ph and "rank" in ph[-1]:
        md.append(f"\nrank of the fast path {ph[-1]['rank']}; scikit-learn imported: "
                  f"{ph[-1]['sklearn_imported']}")  # fmt: skip
    md += ["", "Curves:", ""]
    for name, c in curves.items():
        line = f"- {name}: horizon {c['horizon']}, rank {c['rank']}"
        if ref is not None:
            import numpy as np

            d = np.abs(np.array(c["score"]) - np.array(ref["score"]))
            line += (f"; against the exact reference (horizon {ref['horizon']}): max |score "
                     f"difference| {d.max():.4f} at lag {int(d.argmax())}")  # fmt: skip
        md.append(line)
    text = "\n".join(md)
    print(text)
    if args.out:
        args.out.with_suffix(".md").write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(
            {"floors_mb": fl, "runs": runs, "phases": ph, "curves": curves,
             "load": [load0, load1]}, indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
