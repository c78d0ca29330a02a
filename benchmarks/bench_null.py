"""Time of the no-propagation (lag-free) null in ``wavescope velocity``, before and after.

Runs the CLI on one recording in fresh processes, interleaved so that both trees see the
same load: the tree under test (this checkout) and a reference tree (``--before``, e.g.
``git archive <commit> wavescope | tar -x -C build/before``), each with the default null
and with ``--n-surrogates 0``. Reports wall and CPU time (user + system of the child),
the load average around each run, whether the printed summaries are identical, and, with
``--profile``, the share of the run that cProfile puts in ``wavescope.signal.surrogates``.

    OMP_NUM_THREADS=1 python benchmarks/bench_null.py --before build/before \\
        --repeats 3 --profile /work/shared/data/lens_widefield_ketamine/frames.npz
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


#: What the ``wavescope`` console script runs ...
ENTRY = "import sys; from wavescope.cli.main import main; sys.exit(main())"
#: ... and the same under cProfile, timed in CPU seconds of this process (wall time on a
#: loaded machine counts other users' work)
PROFILED = (
    "import cProfile, sys, time\n"
    "from wavescope.cli.main import main\n"
    "prof = cProfile.Profile(time.process_time)\n"
    "rc = prof.runcall(main)\n"
    "prof.dump_stats({out!r})\n"
    "sys.exit(rc)\n"
)


def _loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _run(tree: Path, args: list[str], profile_to: Path | None = None) -> dict:
    """One CLI run in a fresh interpreter with ``tree`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = PROFILED.format(out=str(profile_to)) if profile_to else ENTRY
    cmd = [sys.executable, "-c", code, "velocity", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0, t0 = _loadavg(), time.perf_counter()
    # cwd=tree: ``python -c`` puts the working directory first on sys.path
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load": [load0, _loadavg()], "stdout": done.stdout}


def _surrogate_share(path: Path) -> dict:
    """CPU time cProfile puts in wavescope.signal.surrogates (cumulative, outermost calls)
    and in the whole command."""
    st = pstats.Stats(str(path))
    total = max(v[3] for v in st.stats.values())  # the outermost call's cumulative time
    own = 0.0
    for (fname, _, func), (_, _, _, cum, callers) in st.stats.items():
        if not fname.endswith(os.path.join("signal", "surrogates.py")):
            continue
        if func in ("lag_free_surrogate", "__init__", "draw") and not any(
            c[0].endswith(os.path.join("signal", "surrogates.py")) for c in callers
        ):
            own += cum
    return {"total_s": total, "surrogates_s": own, "share": own / total}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="recording for wavescope velocity")
    ap.add_argument("--before", required=True, type=Path, help="reference tree (has wavescope/)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="one cProfile run of each tree")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args(argv)
    trees = {"before": a.before.resolve(), "after": ROOT}
    modes = {"null": [a.input], "no null": [a.input, "--n-surrogates", "0"]}
    runs: list[dict] = []
    for rep in range(a.repeats):
        for mode, args in modes.items():
            for name, tree in trees.items():
                r = _run(tree, args)
                r.update(tree=name, mode=mode, repeat=rep)
                runs.append(r)
                print(
                    f"{rep} {mode:8s} {name:6s} wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:6.2f} s"
                    f"  load {r['load'][0]:.2f}-{r['load'][1]:.2f}",
                    file=sys.stderr,
                )
    same = {mode: len({r["stdout"] for r in runs if r["mode"] == mode}) == 1 for mode in modes}
    res = {"input": str(a.input), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    res["identical_output"] = same
    res["runs"] = [{k: v for k, v in r.items() if k != "stdout"} for r in runs]
    for name in trees:
        for key in ("wall_s", "cpu_s"):
            t = {
                m: min(r[key] for r in runs if r["tree"] == name and r["mode"] == m) for m in modes
            }
            res[f"{name}_{key}_min"] = t
            res[f"{name}_{key}_ratio_null_to_no_null"] = t["null"] / t["no null"]
    if a.profile:
        (ROOT / "build").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=ROOT / "build") as tmp:
            for name, tree in trees.items():
                prof = Path(tmp) / f"{name}.prof"
                _run(tree, [a.input], profile_to=prof)
                res[f"{name}_profile"] = _surrogate_share(prof)
    res["stdout_after_null"] = next(r["stdout"] for r in runs if r["tree"] == "after")
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
