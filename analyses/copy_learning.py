"""Claim check: how fast do Mamba, v-Wave Mamba and transformers learn to copy?

Keller 2024 (figure 2) reports that at copy lengths 20 and 300 v-Wave Mamba learns the copy
task of Jelassi et al. 2024 on par with transformers (RoPE, ALiBi) and far faster than plain
Mamba. This script trains the four models at the registry's scale (``cpu`` on a CPU, ``gpu``
on a GPU; similar parameter counts) on one copy length (strings of 5-L letters, packed into
a context of two longest examples), reports the steps to a stated loss and to 95 % exact
strings on the (fresh, hence held-out) training batches, the final exact-string accuracy on
held-out strings of length L and longer, learning curves against steps and against wall
time, and a verdict. One command per length:

    python analyses/copy_learning.py --length 20      # 4 models x 3 seeds, ~40 min on 2 cores
    python analyses/copy_learning.py --length 300     # 4 models x 1 seed, ~75-85 min on 2 cores
    python analyses/copy_learning.py --length 300 --device cuda   # the GPU scale, 3 seeds

Runs are (model, seed) jobs shared out over ``--procs`` worker processes of ``--threads``
threads each (longest expected first). Each job trains in chunks of ``--chunk`` steps,
checkpointing after each, until it reaches 95 % exact strings, ``--max-steps`` (the length
of its learning-rate schedule) or the wall-time budget ``--budget-min``; the table then
says "not reached in N steps" with that run's N. Rerunning the same command resumes
unfinished runs where their last checkpoint left them (a killed run loses at most one
chunk) and skips finished ones; ``--report-only`` rebuilds the tables, figures and verdict
from the results JSON files without training.

Outputs, under ``--results`` (default analyses/results/): per length,
``copy_learning_L{L}[_{device}].json`` (scale, configs, per-run curves and evaluations,
table, command, wall time) and ``.png`` (loss and exact-string accuracy against steps and
against wall time, one line per model and seed); and ``copy_learning.md``, the verdict and
tables of every length whose JSON is present. Length 20 on the CPU keeps its historical
names, ``copy_learning.json`` and ``copy_learning.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("transformer-rope", "transformer-alibi", "mamba", "vwave-mamba")
TRANSFORMERS = ("transformer-rope", "transformer-alibi")
THRESHOLD = 0.95  # exact-string accuracy that counts as "learned"
LOSS_THRESHOLD = 0.5  # nats/token: well under chance (ln 26 = 3.26), copying has begun
# "On par": within this factor of the faster transformer's steps; "much faster": the other
# model needs at least this factor more steps (or never gets there in that many).
PAR_FACTOR, FAST_FACTOR = 2.0, 3.0
# Per length, the defaults sized to the 2-core budget stated in the docstring (measured
# s/step at 1 thread: length 20 about 0.05-0.12 s; length 300 about 0.4-1.4 s).
PRESETS = {
    20: dict(max_steps=4000, budget_min=40.0, seeds=[0, 1, 2], eval_lengths=[20, 30, 40]),
    300: dict(max_steps=1500, budget_min=85.0, seeds=[0], eval_lengths=[300, 450]),
}
RELATIVE_STEP_COST = {  # at length 300, 1 thread (for ordering jobs only)
    "transformer-alibi": 1.5,
    "transformer-rope": 1.2,
    "vwave-mamba": 0.75,
    "mamba": 0.45,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=20, help="copy length L (strings of 5-L)")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default: per length")
    p.add_argument("--max-steps", type=int, default=None, help="schedule length and step cap")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--chunk", type=int, default=100, help="steps between checkpoints")
    p.add_argument("--budget-min", type=float, default=None, help="wall-time budget, minutes")
    p.add_argument("--procs", type=int, default=2, help="worker processes training at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--scale", default=None, help="registry scale (default: cpu or gpu by device)")
    p.add_argument("--eval-examples", type=int, default=64, help="held-out strings per length")
    p.add_argument("--runs", default=None, help="run folders (default runs/copy_learning/...)")
    p.add_argument("--results", default=str(ROOT / "analyses" / "results"))
    p.add_argument("--report-only", action="store_true", help="rebuild outputs, no training")
    p.add_argument("--job", default=None, help=argparse.SUPPRESS)  # internal: model:seed
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    preset = PRESETS.get(args.length, PRESETS[300] if args.length > 20 else PRESETS[20])
    on_gpu = args.device.startswith("cuda")
    if args.seeds is None:
        args.seeds = [0, 1, 2] if on_gpu else list(preset["seeds"])
    if args.max_steps is None:
        args.max_steps = preset["max_steps"]
    if args.budget_min is None:
        args.budget_min = preset["budget_min"]
    if args.scale is None:
        args.scale = "gpu" if on_gpu else "cpu"
    args.eval_lengths = [args.length, int(1.5 * args.length)] + (
        [2 * args.length] if args.length <= 20 else []
    )
    if args.runs is None:
        tag = f"L{args.length}" + ("" if args.device == "cpu" else f"_{args.device}")
        args.runs = str(ROOT / "runs" / "copy_learning" / tag)
    for name in args.models:
        if name not in MODELS:
            p.error(f"--models: {name!r} is not one of {', '.join(MODELS)}")
    if args.procs < 1 or args.threads < 1:
        p.error("--procs and --threads must be >= 1")
    return args


def stem(length: int, device: str) -> str:
    """File stem of one length's results (length 20 on a CPU keeps its historical name)."""
    if length == 20 and device == "cpu":
        return "copy_learning"
    return f"copy_learning_L{length}" + ("" if device == "cpu" else f"_{device.split(':')[0]}")


def train_kwargs(args, model, seed):
    """Settings of wavescope.models.training.train for one run, as plain dicts (also
    written to JSON); :func:`run_train` turns them into the call."""
    return dict(
        model=model,
        hparams=dict(
            steps=args.max_steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=seed,
            stop_exact_acc=THRESHOLD,
        ),
        task=dict(name="copy", length=args.length),
        evaluation=dict(
            every=None,
            lengths=args.eval_lengths,
            examples=args.eval_examples,
            # exact-string accuracy is the same teacher-forced and generated (see the
            # table's note); generation at L = 300 costs minutes per model on a CPU
            modes=["teacher", "generate"] if args.length <= 20 else ["teacher"],
        ),
        log=dict(every=args.log_every, ckpt_every=args.chunk, progress=False),
        device=args.device,
        scale=args.scale,
        threads=args.threads,
    )


def run_train(kw: dict, **extra):
    """``train()`` with the settings of :func:`train_kwargs` (plus out_dir, resume, ...)."""
    from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

    return train(
        kw["model"],
        TrainHParams(**kw["hparams"]),
        task=TaskSpec(**kw["task"]),
        evaluation=EvalSpec(**kw["evaluation"]),
        log=LogSpec(**kw["log"]),
        device=kw["device"],
        scale=kw["scale"],
        threads=kw["threads"],
        **extra,
    )


def run_all(args, argv) -> float:
    """Share the (model, seed) jobs over ``--procs`` worker processes; returns wall seconds."""
    t_start = time.time()
    deadline = t_start + args.budget_min * 60
    jobs = sorted(
        ((m, s) for m in args.models for s in args.seeds),
        key=lambda j: -RELATIVE_STEP_COST.get(j[0], 1.0),
    )
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))

    def one(job):
        cmd = [sys.executable, __file__, *argv, "--job", f"{job[0]}:{job[1]}"]
        subprocess.run([*cmd, "--deadline", str(deadline)], check=True, env=env)

    with ThreadPoolExecutor(args.procs) as pool:
        list(pool.map(one, jobs))
    return time.time() - t_start


def run_job(args) -> None:
    """Worker: one (model, seed) run, chunk by chunk, until done or past the deadline."""
    from wavescope.io.metrics import METRICS
    from wavescope.models.training import FINAL_EVAL, read_metrics

    model, seed = args.job.split(":")
    seed, out = int(seed), Path(args.runs) / f"{model}_s{seed}"
    t_start = time.time()
    target = 0
    if (out / METRICS).exists():  # resuming: carry on from the last chunk logged
        done = [r["step"] for r in read_metrics(out) if r.get("split", "train") == "train"]
        target = (max(done, default=0) // args.chunk) * args.chunk
    while target < args.max_steps:
        if (out / FINAL_EVAL).exists():
            return
        if time.time() > args.deadline:
            print(f"{model} seed {seed}: the wall-time budget is spent; stopping", flush=True)
            return
        target += args.chunk
        t0 = time.perf_counter()
        # resume also restarts a run killed before its first checkpoint
        s = run_train(
            train_kwargs(args, model, seed), out_dir=out, resume=out.exists(), stop_after=target
        )
        print(
            f"[{(time.time() - t_start) / 60:5.1f} min] {model} seed {seed}: step {s['step']}, "
            f"steps_to_95={s['steps_to_95']}, {'finished' if s['finished'] else 'running'} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        if s["finished"]:
            return


def _first_step(curve, column: int, below: float | None = None, above: float | None = None):
    """First logged step where curve[column] <= below (or >= above), else None."""
    for point in curve:
        v = point[column]
        if (below is not None and v <= below) or (above is not None and v >= above):
            return int(point[0])
    return None


def collect(args) -> dict:
    """Per-run results (from the run folders) and the summary table."""
    import numpy as np

    from wavescope.models.checkpoint import load_model
    from wavescope.models.registry import default_config
    from wavescope.models.tasks import length_generalization
    from wavescope.models.training import (
        CHECKPOINT,
        EVAL_SEED_OFFSET,
        FINAL_EVAL,
        read_metrics,
        steps_to_threshold,
    )

    runs = Path(args.runs)
    out = {"runs": [], "table": [], "configs": {}}
    for model in args.models:
        per_model = []
        for seed in args.seeds:
            d = runs / f"{model}_s{seed}"
            if not (d / CHECKPOINT).exists():
                continue
            recs = [r for r in read_metrics(d) if r.get("split", "train") == "train"]
            info = json.loads((d / "run.json").read_text())
            step = recs[-1]["step"] if recs else 0
            row = {
                "model": model,
                "seed": seed,
                "n_params": info["n_params"],
                "steps_done": step,
                "steps_to_95": steps_to_threshold(recs, THRESHOLD),
                "time_s": recs[-1]["time"] if recs else 0.0,
                "s_per_step": recs[-1]["time"] / step if step else None,
                "final_loss": recs[-1]["loss"] if recs else None,
                "final_exact_acc": recs[-1]["exact_acc"] if recs else None,
                "curve": [[r["step"], r["loss"], r["char_acc"], r["exact_acc"]] for r in recs],
                "curve_time_s": [r["time"] for r in recs],
            }
            row["steps_to_loss"] = _first_step(row["curve"], 1, below=LOSS_THRESHOLD)
            if (d / FINAL_EVAL).exists():
                row["lengths"] = json.loads((d / FINAL_EVAL).read_text())["lengths"]
            else:  # cut by the budget: evaluate the last checkpoint, teacher-forced only
                m, _ = load_model(d / CHECKPOINT)
                row["lengths"] = length_generalization(
                    m,
                    args.eval_lengths,
                    args.eval_examples,
                    seed + EVAL_SEED_OFFSET,
                    modes=("teacher",),
                )
            out["runs"].append(row)
            per_model.append(row)
            out["configs"].setdefault(model, info["config"])
        if not per_model:
            continue
        reached = [r["steps_to_95"] for r in per_model if r["steps_to_95"] is not None]
        out["table"].append(
            {
                "model": model,
                "n_params": per_model[0]["n_params"],
                "seeds": [r["seed"] for r in per_model],
                "seeds_not_run": [s for s in args.seeds if s not in {r["seed"] for r in per_model}],
                "steps_to_95": [r["steps_to_95"] for r in per_model],
                "steps_to_loss": [r["steps_to_loss"] for r in per_model],
                "steps_done": [r["steps_done"] for r in per_model],
                "median_steps_to_95": float(np.median(reached))
                if len(reached) == len(args.seeds)
                else None,
                "s_per_step": float(np.mean([r["s_per_step"] for r in per_model])),
            }
        )
    for model, cfg in out["configs"].items():
        if cfg != asdict(default_config(model, args.scale)):
            out.setdefault("config_differs_from_current_default", []).append(model)
    out["settings_log_every"], out["length"] = args.log_every, args.length
    add_common_step(out)
    return out


def _at_step(curve, step):
    """Last curve point at or before ``step``: (step, loss, char_acc, exact_acc)."""
    pts = [c for c in curve if c[0] <= step]
    return pts[-1] if pts else None


def add_common_step(res: dict) -> None:
    """Compare all runs at one step S, the fewest steps any run has done (so every run has
    a train line at S), and the final evaluations by length and mode."""
    import numpy as np

    S = min((r["steps_done"] for r in res["runs"]), default=0)
    res["common_step"] = S
    for t in res["table"]:
        rows = [r for r in res["runs"] if r["model"] == t["model"]]
        pts = [_at_step(r["curve"], S) for r in rows]
        ex = [p[3] for p in pts if p]
        lo = [p[1] for p in pts if p]
        t["exact_at_common_step"] = ex
        t["loss_at_common_step"] = lo
        t["mean_exact_at_common_step"] = float(np.mean(ex)) if ex else None
        t["mean_loss_at_common_step"] = float(np.mean(lo)) if lo else None
        for mode in ("teacher", "generate"):
            for metric in ("exact_acc", "char_acc"):
                for L in sorted({x["length"] for r in rows for x in r["lengths"]}):
                    v = [
                        x[metric]
                        for r in rows
                        for x in r["lengths"]
                        if x["length"] == L and x["mode"] == mode and metric in x
                    ]
                    key = f"{mode}_{metric.split('_')[0]}_by_length"
                    t.setdefault(key, {})[str(L)] = float(np.mean(v)) if v else None
                    if metric == "exact_acc" and v:
                        t.setdefault(f"{mode}_exact_range_by_length", {})[str(L)] = [
                            float(min(v)),
                            float(max(v)),
                        ]


def _steps_phrase(steps: list, done: list) -> str:
    return ", ".join(
        str(s) if s is not None else f"not in {n}" for s, n in zip(steps, done, strict=True)
    )


def _median_or_none(steps: list):
    import numpy as np

    return float(np.median(steps)) if steps and all(s is not None for s in steps) else None


def _compare(a_steps, a_done, b_steps, b_done):
    """How run group a compares with group b on steps to a threshold: 'par', 'faster',
    'slower', 'neither' (no group reached it) or 'unclear'. A group that did not reach the
    threshold in all its seeds counts as needing more than its fewest steps done."""
    a, b = _median_or_none(a_steps), _median_or_none(b_steps)
    if a is None and b is None:
        return "neither"
    if a is not None and b is None:
        return "faster" if min(b_done) >= FAST_FACTOR * a else "unclear"
    if a is None:
        return "slower" if min(a_done) >= FAST_FACTOR * b else "unclear"
    if a * FAST_FACTOR <= b:
        return "faster"
    if b * FAST_FACTOR <= a:
        return "slower"
    return "par" if max(a, b) <= PAR_FACTOR * min(a, b) else "unclear"


def _relation(vw: dict, other: dict, metric: str, label: str, who: str) -> str:
    """One sentence on how v-Wave Mamba's steps to ``label`` compare with ``other``'s."""
    a, b = _median_or_none(vw[metric]), _median_or_none(other[metric])
    n_vw, n_other = min(vw["steps_done"]), min(other["steps_done"])
    name = other["model"]
    if a is None and b is None:
        return f"neither reached {label} ({n_vw} and {n_other} steps): no difference shown."
    if a is None:
        where = f"v-Wave Mamba did not reach {label} in {n_vw} steps; {name} did at {b:.0f}"
        if n_vw >= FAST_FACTOR * b:
            return where + f": v-Wave Mamba learned much slower than {who} at this scale."
        return where + (
            f": slower at this scale, by at least {n_vw / b:.1f}x (the run stopped at {n_vw})."
        )
    if b is None:
        where = f"v-Wave Mamba reached {label} at {a:.0f} steps; {name} not in {n_other}"
        if n_other >= FAST_FACTOR * a:
            return where + f": v-Wave Mamba learned much faster than {who}."
        return where + f": faster, by at least {n_other / a:.1f}x (that run stopped there)."
    c = _compare(vw[metric], vw["steps_done"], other[metric], other["steps_done"])
    text = {
        "par": f"on par with {who}",
        "faster": f"much faster than {who}",
        "slower": f"much slower than {who}",
        "unclear": f"neither on par with {who} (within {PAR_FACTOR:g}x) nor apart "
        f"({FAST_FACTOR:g}x)",
    }[c]
    return f"{a:.0f} against {b:.0f} median steps to {label} ({name}): v-Wave Mamba learned {text}."


def verdict(res: dict) -> list[str]:
    """Plain sentences, from the numbers, on the claim at this length."""
    by = {t["model"]: t for t in res["table"]}
    L = res["length"]
    lines = []
    if "vwave-mamba" not in by:
        return [f"Length {L}: v-Wave Mamba was not run; no verdict."]
    vw = by["vwave-mamba"]
    trans = [by[m] for m in TRANSFORMERS if m in by]
    for t in res["table"]:  # results written before the loss column existed
        if "steps_to_loss" not in t:
            t["steps_to_loss"] = [
                _first_step(r["curve"], 1, below=LOSS_THRESHOLD)
                for r in res["runs"]
                if r["model"] == t["model"]
            ]
    best = None
    for metric, label in (
        ("steps_to_95", f"{THRESHOLD:.0%} exact strings"),
        ("steps_to_loss", f"loss {LOSS_THRESHOLD} nats/token"),
    ):
        if any(s is not None for t in [vw, *trans] for s in t[metric]):
            best = (metric, label)
            break
    if best is None:
        lines.append(
            f"Length {L}: no model reached {LOSS_THRESHOLD} nats/token in its steps "
            f"({', '.join(t['model'] + ' ' + str(min(t['steps_done'])) for t in res['table'])}): "
            "the claim cannot be told at this scale; more steps, wider models or a GPU "
            "(the seed's scale) are needed."
        )
        return lines
    metric, label = best
    parts = [f"{t['model']}: {_steps_phrase(t[metric], t['steps_done'])}" for t in res["table"]]
    lines.append(f"Length {L}, steps to {label} per seed: " + "; ".join(parts) + ".")
    if trans:
        fastest = min(
            trans,
            key=lambda t: _median_or_none(t[metric]) if _median_or_none(t[metric]) else 1e18,
        )
        lines.append(
            "v-Wave Mamba against the faster transformer: "
            + _relation(vw, fastest, metric, label, "the transformers")
        )
    if "mamba" in by:
        lines.append(
            "v-Wave Mamba against Mamba: " + _relation(vw, by["mamba"], metric, label, "Mamba")
        )
    acc = []
    for t in res["table"]:
        mean = t.get("teacher_exact_by_length", {}).get(str(L))
        rng = t.get("teacher_exact_range_by_length", {}).get(str(L))
        if mean is None:
            continue
        span = f" (seeds {rng[0]:.2f}-{rng[1]:.2f})" if rng and len(t["seeds"]) > 1 else ""
        acc.append(f"{t['model']} {mean:.2f}{span}")
    if acc:
        lines.append(
            f"Final exact-string accuracy on held-out strings of length {L} "
            f"({len(vw['seeds'])} seed(s) per model, mean and range over seeds): "
            + "; ".join(acc)
            + "."
        )
    sites = res.get("configs", {}).get("vwave-mamba", {}).get("n_sites")
    if sites is not None and sites < L:
        lines.append(
            f"At this scale v-Wave Mamba's ring has {sites} sites, fewer than the {L} letters "
            f"to copy: at 1 site/step it holds the last {sites} steps, so a string of {L} must "
            "be held by slower channels (smeared) or by its Mamba state; a ring of at least "
            f"{L} sites is a larger model than its peers here."
        )
    if len(vw["seeds"]) < 3:
        lines.append(
            f"With {len(vw['seeds'])} seed per model these are single runs: no interval over "
            "seeds, and a difference within a factor 2 in steps is not evidence either way."
        )
    return lines


def table_markdown(res: dict) -> str:
    S = res.get("common_step", 0)
    lines = [
        f"| model | params | steps to loss {LOSS_THRESHOLD} (per seed) | steps to "
        f"{THRESHOLD:.0%} exact (per seed) | median | exact acc at step {S} (per seed) | "
        f"loss at step {S} (mean) | s/step |",
        "|---|---:|---|---|---:|---|---:|---:|",
    ]
    for t in res["table"]:
        cells = [
            str(s) if s is not None else f"not reached in {n}"
            for s, n in zip(t["steps_to_95"], t["steps_done"], strict=True)
        ]
        cells += [f"seed {s} not run (budget)" for s in t["seeds_not_run"]]
        loss_steps = t.get("steps_to_loss")
        if loss_steps is None:  # results written before this column existed
            loss_steps = [
                _first_step(r["curve"], 1, below=LOSS_THRESHOLD)
                for r in res["runs"]
                if r["model"] == t["model"]
            ]
        med = f"{t['median_steps_to_95']:.0f}" if t["median_steps_to_95"] is not None else "-"
        ex = ", ".join(f"{e:.2f}" for e in t["exact_at_common_step"])
        loss = t["mean_loss_at_common_step"]
        lines.append(
            f"| {t['model']} | {t['n_params']:,} | {_steps_phrase(loss_steps, t['steps_done'])}"
            f" | {', '.join(cells)} | {med} | {ex} | {loss:.3f} | {t['s_per_step']:.3f} |"
        )
    lengths = sorted({int(L) for t in res["table"] for L in t["teacher_exact_by_length"]})
    modes = (
        ("teacher", "generate")
        if any(
            v is not None
            for t in res["table"]
            for v in t.get("generate_char_by_length", {}).values()
        )
        else ("teacher",)
    )
    cols = [("teacher", "exact", L) for L in lengths] + [
        (m, "char", L) for m in modes for L in lengths
    ]
    lines += [
        "",
        f"Steps to loss {LOSS_THRESHOLD} / to {THRESHOLD:.0%}: first train line (mean of the "
        f"last {res['settings_log_every']} steps' fresh batches, lengths 5-{res['length']}) "
        f"with masked cross-entropy <= {LOSS_THRESHOLD} nats/token / exact-string accuracy >= "
        f"{THRESHOLD}; runs stop at {THRESHOLD:.0%}. Exact accuracy at step {S}: the same "
        "train line at the step every run reached.",
        "",
        "Final models on held-out strings of exactly length L (mean over seeds; "
        "teacher-forced argmax"
        + (" and greedy autoregressive generation" if len(modes) > 1 else "")
        + "). "
        "For a causal model exact-string accuracy is the same under both (up to "
        "floating-point ties): a string is exact only if no token is wrong, and up to the "
        "first wrong token greedy decoding sees the true prefix. Character accuracy differs: "
        "decoding does not recover after an error.",
        "",
        "| model | " + " | ".join(f"{m} {k} L={L}" for m, k, L in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for t in res["table"]:
        vals = [t.get(f"{m}_{k}_by_length", {}).get(str(L)) for m, k, L in cols]
        lines.append(
            f"| {t['model']} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |"
        )
    return "\n".join(lines)


def scale_markdown(res: dict) -> str:
    """The scale of one length's runs: model sizes, batch, steps, context, schedule, threads."""
    st = res["settings"]
    a, hp = st["args"], st.get("hparams", {})
    sizes = "; ".join(
        f"{m} {', '.join(f'{k}={v}' for k, v in cfg.items() if k in SIZE_KEYS)}"
        for m, cfg in res["configs"].items()
    )
    return (
        f"Scale: registry scale `{a.get('scale', 'cpu')}` on `{a.get('device', 'cpu')}` "
        f"({sizes}); batch {a['batch_size']} rows of {st.get('context_len', '?')} tokens, "
        f"up to {a['max_steps']} steps, AdamW lr {a['lr']} "
        f"(warm-up {hp.get('warmup', '?')} steps, cosine to {hp.get('min_lr_ratio', '?')} of "
        f"peak, weight decay {hp.get('weight_decay', '?')}, clip {hp.get('grad_clip', '?')}); "
        f"{a.get('procs', 1)} process(es) x {a['threads']} thread(s); wall time "
        f"{st.get('wall_min', float('nan')):.0f} min at load {st.get('load', '?')}."
    )


SIZE_KEYS = ("d_model", "n_layers", "d_state", "n_sites", "n_heads", "expand")


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(MODELS, ("C0", "C1", "C2", "C3"), strict=True))
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    for r in res["runs"]:
        if not r["curve"]:
            continue
        c = list(zip(*r["curve"], strict=True))
        t = r.get("curve_time_s") or [s * r["s_per_step"] for s in c[0]]  # older results
        label = f"{r['model']} ({r['n_params'] / 1e3:.0f}k) seed {r['seed']}"
        kw = dict(
            color=colors.get(r["model"], "k"),
            lw=1.2,
            alpha=0.85,
            ls=styles[r["seed"] % len(styles)],
        )
        axes[0, 0].plot(c[0], c[1], label=label, **kw)
        axes[0, 1].plot([x / 60 for x in t], c[1], **kw)
        axes[1, 0].plot(c[0], c[3], **kw)
        axes[1, 1].plot([x / 60 for x in t], c[3], **kw)
    L = res["length"]
    for ax in axes[0]:
        ax.set(yscale="log", ylabel="masked cross-entropy (nats/token)")
        ax.axhline(LOSS_THRESHOLD, color="k", ls=":", lw=0.8)
    for ax in axes[1]:
        ax.set(ylim=(-0.02, 1.02), ylabel="exact-string accuracy (fresh batches)")
        ax.axhline(THRESHOLD, color="k", ls=":", lw=0.8)
    for ax in axes[:, 0]:
        ax.set(xlabel="step")
    for ax in axes[:, 1]:
        ax.set(xlabel="training wall time per run (min)")
    axes[0, 0].set_title(f"copy length {L}: training loss against steps", fontsize=10)
    axes[0, 1].set_title("training loss against wall time", fontsize=10)
    axes[1, 0].set_title("exact-string accuracy against steps", fontsize=10)
    axes[1, 1].set_title("exact-string accuracy against wall time", fontsize=10)
    axes[0, 0].legend(fontsize=7.5, loc="lower left")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_summary_page(results: Path) -> str:
    """copy_learning.md: the verdict and tables of every length whose results are present."""
    parts = [
        "# Copy task: how fast each model learns (claim 2)",
        "",
        "Claim (Keller 2024, figure 2): at copy lengths 20 and 300, v-Wave Mamba learns copying "
        "on par with the transformers (RoPE, ALiBi) and far faster than Mamba. Made by "
        "`analyses/copy_learning.py` (one command per length; see each section).",
    ]
    files = sorted(
        results.glob("copy_learning*.json"),
        key=lambda p: json.loads(p.read_text()).get("length", 0),
    )
    for f in files:
        res = json.loads(f.read_text())
        add_common_step(res)  # the aggregates from the per-run rows, in today's form
        res["verdict"] = verdict(res)
        f.write_text(json.dumps(res, indent=1) + "\n")
        a = res["settings"]["args"]
        parts += [
            "",
            f"## Length {res['length']} ({a.get('device', 'cpu')})",
            "",
            "**Verdict.** " + " ".join(res["verdict"]),
            "",
            f"Command: `{res['settings']['reproduce']}`. Results: `{f.name}`, "
            f"`{f.with_suffix('.png').name}`.",
            "",
        ]
        if "wall_min" in res["settings"]:
            parts += [scale_markdown(res), ""]
        parts.append(table_markdown(res))
    text = "\n".join(parts) + "\n"
    (results / "copy_learning.md").write_text(text)
    return text


def _reproduce(args) -> str:
    skip = ("report_only", "runs", "results", "job", "deadline", "eval_lengths")
    bits = []
    for k, v in vars(args).items():
        if k in skip:
            continue
        bits.append(
            f"--{k.replace('_', '-')} " + (" ".join(map(str, v)) if isinstance(v, list) else str(v))
        )
    return "python analyses/copy_learning.py " + " ".join(bits)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.job:
        run_job(args)
        return 0
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        print(write_summary_page(results))
        return 0
    load = os.getloadavg()[0]
    wall = run_all(args, argv)
    import torch

    from wavescope.models.training import TrainHParams, make_copy_task

    res = collect(args)
    hp = TrainHParams(steps=args.max_steps, batch_size=args.batch_size, lr=args.lr)
    res["claim"] = (
        "Keller 2024: v-Wave Mamba learns copying on par with transformers (RoPE, ALiBi) "
        "and far faster than Mamba."
    )
    res["settings"] = {
        "args": {k: v for k, v in vars(args).items() if k not in ("job", "deadline")},
        "train_kwargs": {m: train_kwargs(args, m, "<seed>") for m in args.models},
        "hparams": {
            "warmup": min(100, args.max_steps // 10)
            if hp.warmup_steps is None
            else hp.warmup_steps,
            "min_lr_ratio": hp.min_lr_ratio,
            "weight_decay": hp.weight_decay,
            "grad_clip": hp.grad_clip,
        },
        "context_len": make_copy_task(args.length, 0).context_len,
        "threshold": THRESHOLD,
        "loss_threshold": LOSS_THRESHOLD,
        "wall_min": wall / 60,
        "load": round(load, 2),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "reproduce": _reproduce(args),
    }
    res["verdict"] = verdict(res)
    name = stem(args.length, args.device)
    (results / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    plot(res, results / f"{name}.png")
    print(write_summary_page(results))
    print(f"done in {wall / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
