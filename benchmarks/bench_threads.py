"""Torch CPU threads for training: 1 vs 2 threads, with and without a busy core.

    .venv/bin/python benchmarks/bench_threads.py [--quick] [--models vwave-mamba mamba ...]
        [--settings 1 2 auto 2p] [--reps 2] [--steps 10]

What is timed: training steps of the registry's CPU-scale models (``default_config(name,
"cpu")``) on the copy task at length 20, batch 16, exactly as
:func:`wavescope.models.training.train` runs them (one step = fresh batch, forward, masked
loss, backward, gradient clipping, AdamW and scheduler step; :func:`train_step`).

Conditions: ``quiet`` (nothing started by the benchmark) and ``busy`` (one
``python -c "while True: pass"`` process started by the benchmark, the situation of a
second program on one of the cores). The machine is shared, so the 1-minute load average
is read before every measurement and recorded next to it.

Method: one child process per model and condition and repetition; inside it the thread
settings alternate in blocks of ``--steps`` steps (order 1, 2, 2, 1, ... so that both see
the same background load), after two warm-up steps per setting; the figure per setting is
the median step time. ``auto`` is the default policy of
:func:`wavescope.models.threads.default_threads` for the model (what a training run uses
when ``--threads`` is not given). ``2p`` is 2 threads in a separate child started with
``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads sleep at barriers instead of spinning; it only
acts when set before torch is imported, so it is not something a library can switch on).

Writes benchmarks/results/threads.json and threads.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

MODELS = ("vwave-mamba", "mamba", "shift-ssm", "transformer-alibi")
SETTINGS = ("1", "2", "auto", "2p")
BATCH, LENGTH = 16, 20
CHILD_TIMEOUT_S = 1800.0


def load1() -> float:
    """1-minute load average now."""
    return round(os.getloadavg()[0], 2)


# ----------------------------------------------------------------------------- child
def child(model_name: str, settings: list[str], steps: int, rounds: int) -> dict:
    """Time blocks of training steps of ``model_name`` under each thread setting."""
    import torch

    from wavescope.models.registry import build_model, default_config
    from wavescope.models.tasks import VOCAB_SIZE
    from wavescope.models.threads import default_threads
    from wavescope.models.training import TrainHParams, make_copy_task, make_optimizer, train_step

    torch.manual_seed(0)
    cfg = default_config(model_name, "cpu")
    model = build_model(model_name, VOCAB_SIZE, cfg)
    hp = TrainHParams(steps=10_000, batch_size=BATCH)
    opt, sched = make_optimizer(model, hp)
    task = make_copy_task(LENGTH, 0, cfg.max_len)

    def resolve(s: str) -> int:
        # "2p": 2 threads in a child started with OMP_WAIT_POLICY=PASSIVE (set by the parent)
        return default_threads(model.num_parameters()) if s == "auto" else int(s.rstrip("p"))

    for s in settings:  # warm-up: allocator, thread pools
        torch.set_num_threads(resolve(s))
        for _ in range(2):
            train_step(model, opt, sched, task.batch(BATCH), hp, torch.device("cpu"))
    times = {s: [] for s in settings}
    chosen = {s: [] for s in settings}
    loads = []
    order = list(settings)
    for _ in range(rounds):
        for s in order:
            n = resolve(s)
            chosen[s].append(n)
            torch.set_num_threads(n)
            loads.append(load1())
            for _ in range(steps):
                batch = task.batch(BATCH)
                t0 = time.perf_counter()
                train_step(model, opt, sched, batch, hp, torch.device("cpu"))
                times[s].append(time.perf_counter() - t0)
        order.reverse()
    return {
        "model": model_name,
        "n_params": model.num_parameters(),
        "median_step_s": {s: statistics.median(v) for s, v in times.items()},
        "threads_chosen": chosen,
        "n_steps": {s: len(v) for s, v in times.items()},
        "load1_during": loads,
    }


# ----------------------------------------------------------------------------- parent
def busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(models, settings, reps, steps, rounds, conditions=("quiet", "busy")) -> list[dict]:
    rows = []
    for rep in range(reps):
        for condition in conditions:
            hog = busy_loop() if condition == "busy" else None
            try:
                if hog is not None:
                    time.sleep(2.0)  # let the load average see it
                for m in models:
                    r = {"model": m, "median_step_s": {}, "threads_chosen": {}, "n_steps": {}}
                    r.update(condition=condition, rep=rep, load1_before=load1(), load1_during=[])
                    plain = [s for s in settings if not s.endswith("p")]
                    passive = [s for s in settings if s.endswith("p")]
                    for group, env in ((plain, None), (passive, {"OMP_WAIT_POLICY": "PASSIVE"})):
                        if not group:
                            continue
                        args = [__file__, "--child", m, "--settings", *group]
                        args += ["--steps", str(steps), "--rounds", str(rounds)]
                        c = bl.run_child(args, CHILD_TIMEOUT_S, env=env)
                        if "error" in c:
                            r["error"] = c["error"]
                            continue
                        for k in ("median_step_s", "threads_chosen", "n_steps"):
                            r[k].update(c[k])
                        r["load1_during"] += c["load1_during"]
                        r["n_params"] = c["n_params"]
                    rows.append(r)
                    print(json.dumps(r), flush=True)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    return rows


def summarise(rows, settings) -> list[dict]:
    """Per model and condition: median over repetitions of each setting's median step."""
    out = []
    keys = sorted({(r["model"], r["condition"]) for r in rows if "error" not in r})
    for model, cond in keys:
        rs = [r for r in rows if r.get("model") == model and r["condition"] == cond]
        med = {s: statistics.median(r["median_step_s"][s] for r in rs) for s in settings}
        best = min(med[s] for s in settings if s in ("1", "2"))
        out.append(
            {
                "model": model,
                "condition": cond,
                "median_step_s": med,
                "ratio_to_best": {s: med[s] / best for s in settings},
                "auto_threads": sorted(
                    {n for r in rs for n in r["threads_chosen"].get("auto", [])}
                ),
                "load1": [x for r in rs for x in [r["load1_before"], *r["load1_during"]]],
                "reps": len(rs),
            }
        )
    return out


def markdown(summary, machine, settings, args, rows=()) -> str:
    lines = [
        "# Torch threads for training: 1 vs 2 threads, quiet and with one core busy",
        "",
        "Command: `.venv/bin/python benchmarks/bench_threads.py " + " ".join(args) + "`",
        "",
        *bl.machine_markdown(machine),
        "",
        "Median time of one training step (CPU-scale model, copy length 20, batch 16) per "
        "thread setting; `auto` is the default policy (`wavescope.models.threads`), the "
        "thread count it chose in brackets; `2p`: 2 threads with OMP_WAIT_POLICY=PASSIVE "
        "(OpenMP threads sleep instead of spinning at barriers; set before torch starts); "
        "ratio = time / best of 1 and 2 threads (default wait policy). "
        '`busy`: one `python -c "while True: pass"` process started by the benchmark. '
        "load1: the 1-minute load average before and during the measurements (the machine "
        "is shared with other users: a quiet condition with load above 1 was not quiet).",
        "",
        "| model | condition | "
        + " | ".join(f"{s} thread(s) s/step" for s in settings)
        + " | "
        + " | ".join(f"{s} / best" for s in settings)
        + " | load1 (min-max) |",
        "|---|---|" + "---:|" * (2 * len(settings) + 1),
    ]
    for r in summary:
        auto = f" [{','.join(map(str, r['auto_threads']))}]" if "auto" in settings else ""
        cells = [f"{r['median_step_s'][s]:.3f}" + (auto if s == "auto" else "") for s in settings]
        ratios = [f"{r['ratio_to_best'][s]:.2f}" for s in settings]
        lo, hi = min(r["load1"]), max(r["load1"])
        lines.append(
            f"| {r['model']} | {r['condition']} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(ratios)
            + f" | {lo:.2f}-{hi:.2f} |"
        )
    lines += [
        "",
        "Each repetition (median step time per setting; load1 before the child started):",
        "",
        "| rep | model | condition | load1 | " + " | ".join(f"{s} s/step" for s in settings) + " |",
        "|---:|---|---|---:|" + "---:|" * len(settings),
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['rep']} | {r['model']} | {r['condition']} | | {r['error']} |")
            continue
        cells = " | ".join(f"{r['median_step_s'][s]:.3f}" for s in settings)
        lines.append(
            f"| {r['rep']} | {r['model']} | {r['condition']} | {r['load1_before']:.2f} | {cells} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS))
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--rounds", type=int, default=2, help="blocks per setting per child")
    p.add_argument("--conditions", nargs="+", default=["quiet", "busy"], choices=["quiet", "busy"])
    p.add_argument("--quick", action="store_true", help="2 models, 1 rep, 5-step blocks")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(bl.RESULTS / "threads"))
    args = p.parse_args(argv)
    if args.child:
        r = child(args.child, args.settings, args.steps, args.rounds)
        print(json.dumps(r))
        return 0
    if args.quick:
        args.models, args.reps, args.steps = args.models[:2], 1, 5
    machine = bl.machine_info()
    rows = measure(args.models, args.settings, args.reps, args.steps, args.rounds, args.conditions)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarise(rows, args.settings)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shown = sys.argv[1:] if argv is None else list(argv)
    out.with_suffix(".json").write_text(
        json.dumps({"machine": machine, "rows": rows, "summary": summary}, indent=1) + "\n"
    )
    out.with_suffix(".md").write_text(markdown(summary, machine, args.settings, shown, rows))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
