"""Start-up time of ``wavescope --help`` and ``wavescope velocity --help``, before and after.

Each run is a fresh interpreter that does what the ``wavescope`` console script does
(``from wavescope.cli.main import main; main()``), with a tree first on the path: this
checkout and a reference tree (``--before``, e.g. ``git archive <commit> wavescope | tar
-x -C build/before``), interleaved so both see the same load. Reports the minimum and
median wall and CPU time of each, the load average, and with ``--importtime`` the slowest imports
(``python -X importtime``, cumulative microseconds) of one ``--help`` run of each tree.

    python benchmarks/bench_startup.py --before build/before --repeats 10 --importtime
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from wavescope.cli.main import main; sys.exit(main())"
COMMANDS = {"wavescope --help": ["--help"], "wavescope velocity --help": ["velocity", "--help"]}


def _loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _run(tree: Path, args: list[str], flags: tuple[str, ...] = ()) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one run, and its stderr."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-c", ENTRY, *args],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{args} in {tree} failed:\n{done.stderr}")
    return wall, cpu, done.stderr


def _slowest_imports(stderr: str, n: int) -> list[tuple[str, int]]:
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = line[len("import time:") :].split("|")
            depth = len(name) - len(name.lstrip())  # one space: imported by the entry point
            rows.append((name.strip(), int(cum), depth))
    top = [(name, cum) for name, cum, _ in sorted(rows, key=lambda r: -r[1])[:n]]
    total = sum(cum for _, cum, depth in rows if depth == 1)
    return [("(all imports, incl. interpreter start-up)", total)] + top


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path, help="reference tree (has wavescope/)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args(argv)
    trees = {"before": a.before.resolve(), "after": ROOT}
    times = {(t, c): [] for t in trees for c in COMMANDS}
    cpus = {(t, c): [] for t in trees for c in COMMANDS}
    loads = [_loadavg()]
    for _ in range(a.repeats):
        for cmd, args in COMMANDS.items():
            for name, tree in trees.items():
                wall, cpu, _ = _run(tree, args)
                times[name, cmd].append(wall)
                cpus[name, cmd].append(cpu)
        loads.append(_loadavg())
    res = {"repeats": a.repeats, "load_1min": [min(loads), max(loads)], "runs": {}}
    for (name, cmd), ts in times.items():
        cs = cpus[name, cmd]
        res["runs"][f"{name}: {cmd}"] = {
            "wall_min_s": min(ts), "wall_median_s": statistics.median(ts), "wall_all_s": ts,
            "cpu_min_s": min(cs), "cpu_median_s": statistics.median(cs),
        }  # fmt: skip
        print(
            f"{name:6s} {cmd:26s} wall min {min(ts):.3f} median {statistics.median(ts):.3f} s"
            f"  cpu min {min(cs):.3f} median {statistics.median(cs):.3f} s"
        )
    print(f"load average (1 min) {min(loads):.2f}-{max(loads):.2f}")
    if a.importtime:
        for name, tree in trees.items():
            _, _, err = _run(tree, ["--help"], ("-X", "importtime"))
            res[f"{name}_importtime_us"] = _slowest_imports(err, 12)
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
