"""One training step, before and after: two source trees side by side in one run.

    .venv/bin/python benchmarks/bench_train_step.py --before /path/to/main [--after .]
        [--models vwave-mamba mamba] [--steps 10] [--rounds 3] [--long] [--threads 1]

Each round runs, for each model, ``--steps`` training steps (copy length 20, batch 16,
``--threads`` torch threads (1 by default), after 3 warm-up steps) in a fresh subprocess
for each tree, alternating before / after so that both see the same load. A step is
timed in wall time (``perf_counter``) and in the process's CPU time (``process_time``,
which on a shared machine excludes the time the process waited for a core). Reported:
medians over all rounds, the after/before ratio of each, and the 1-minute load average
per round.

``--long`` adds Mamba at L = 1024 (d_model 64, 2 layers, batch 16): forward + backward of
a random token batch, against its matrix-product floor (the step's matmuls' FLOPs, forward
and backward, at the rate of one large float32 matmul measured in the same process on one
thread, in CPU time: on a busy machine a wall-time rate measures the queue for a core).

Writes benchmarks/results/train_step.json and .md (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

BATCH, LENGTH, WARMUP = 16, 20, 3

_CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(%(T)d)
from wavescope.models.registry import build_model, default_config
from wavescope.models.tasks import VOCAB_SIZE
from wavescope.models.training import TrainHParams, make_copy_task, make_optimizer, train_step
import wavescope
name, steps, long_ = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
out = {"wavescope": wavescope.__file__}
try:
    from wavescope.models.scan.cpu_kernel import kernel_status
    out["kernel"] = kernel_status()[0]
except ImportError:
    out["kernel"] = False
torch.manual_seed(0)
if not long_:
    cfg = default_config(name, "cpu")
    model = build_model(name, VOCAB_SIZE, cfg)
    hp = TrainHParams(steps=10_000, batch_size=%(B)d)
    opt, sched = make_optimizer(model, hp)
    task = make_copy_task(%(LEN)d, 0, cfg.max_len)
    cpu = torch.device("cpu")
    def step():
        train_step(model, opt, sched, task.batch(%(B)d), hp, cpu)
else:
    cfg = default_config(name, "cpu", max_len=None)
    model = build_model(name, VOCAB_SIZE, cfg)
    tokens = torch.randint(0, VOCAB_SIZE, (%(B)d, 1024))
    def step():
        model.zero_grad(set_to_none=True)
        model(tokens).float().logsumexp(-1).mean().backward()
for _ in range(%(W)d):
    step()
wall, cpu_t = [], []
for _ in range(steps):
    t0, c0 = time.perf_counter(), time.process_time()
    step()
    wall.append(time.perf_counter() - t0)
    cpu_t.append(time.process_time() - c0)
out.update(wall=wall, cpu=cpu_t)
if long_:  # the matmul rate and the model's matmul FLOPs per forward + backward
    torch.set_num_threads(1)  # the floor's rate: one thread, timed in its CPU time
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    ts = []
    for _ in range(10):  # CPU time, as the steps are compared: wall time under load is waiting
        t0 = time.thread_time(); a @ b; ts.append(time.thread_time() - t0)
    out["gflops"] = 2 * 1024**3 / min(ts) / 1e9
    flops = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            flops += 2 * %(B)d * 1024 * mod.in_features * mod.out_features
    out["matmul_flops_fwd_bwd"] = 3 * flops  # backward: two matmuls per forward one
print(json.dumps(out))
"""
_CHILD = (
    _CHILD.replace("%(B)d", str(BATCH))
    .replace("%(LEN)d", str(LENGTH))
    .replace("%(W)d", str(WARMUP))
)


def child_code(threads: int) -> str:
    """The child's script at ``threads`` torch threads (the matmul rate's too)."""
    return _CHILD.replace("%(T)d", str(threads))


def run_child(tree: Path, model: str, steps: int, long_: bool, threads: int = 1) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(threads))
    res = subprocess.run(
        [sys.executable, "-c", child_code(threads), model, str(steps), "1" if long_ else "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tree),
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="source tree of the baseline (e.g. main)")
    p.add_argument("--after", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--models", nargs="+", default=["vwave-mamba", "mamba"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--long", action="store_true", help="also Mamba at L = 1024")
    p.add_argument("--threads", type=int, default=1, help="torch threads in each child")
    p.add_argument("--out", default=str(bl.RESULTS / "train_step"))
    args = p.parse_args(argv)
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    machine = bl.machine_info(args.threads)
    cases = [(m, False) for m in args.models] + ([("mamba", True)] if args.long else [])
    runs = {(m, lg, k): [] for m, lg in cases for k in trees}
    meta, loads = {}, []
    for r in range(args.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for m, lg in cases:
            for k, tree in trees.items():
                n = args.steps if not lg else max(2, args.steps // 3)
                out = run_child(tree, m, n, lg, args.threads)
                runs[(m, lg, k)].append(out)
                meta[(m, lg, k)] = {x: out[x] for x in out if x not in ("wall", "cpu")}
                print(f"round {r} {m}{' L=1024' if lg else ''} {k}: wall "
                      f"{1e3 * statistics.median(out['wall']):.1f} ms, cpu "
                      f"{1e3 * statistics.median(out['cpu']):.1f} ms", flush=True)  # fmt: skip
    loads.append(round(os.getloadavg()[0], 2))
    results = []
    for m, lg in cases:
        row = {"model": m, "length": 1024 if lg else "copy 20 (85 tokens)"}
        for k in trees:
            outs = runs[(m, lg, k)]
            row[k] = {
                "wall_ms": 1e3 * statistics.median([x for o in outs for x in o["wall"]]),
                "cpu_ms": 1e3 * statistics.median([x for o in outs for x in o["cpu"]]),
                "kernel": meta[(m, lg, k)]["kernel"],
            }
            if lg:
                mm = meta[(m, lg, k)]
                floor = 1e3 * mm["matmul_flops_fwd_bwd"] / (mm["gflops"] * 1e9)
                row[k].update(gflops=mm["gflops"], floor_ms=floor)
                row[k]["cpu_over_floor"] = row[k]["cpu_ms"] / floor
                row[k]["wall_over_floor"] = row[k]["wall_ms"] / floor
        for t in ("wall_ms", "cpu_ms"):
            row[f"speedup_{t[:-3]}"] = row["before"][t] / row["after"][t]
        results.append(row)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    shown = sys.argv[1:] if argv is None else list(argv)
    doc = {"machine": machine, "trees": {k: str(v) for k, v in trees.items()},
           "load1_per_round": loads, "results": results, "argv": shown,
           "threads": args.threads}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(out.with_suffix(".md").read_text())
    return 0


def markdown(doc) -> str:
    lines = [
        f"# Training step before / after (CPU scale, batch 16, {doc.get('threads', 1)} torch "
        f"thread{'s' if doc.get('threads', 1) > 1 else ''})",
        "",
        "Command: `.venv/bin/python benchmarks/bench_train_step.py " + " ".join(doc["argv"]) + "`",
        "",
        *bl.machine_markdown(doc["machine"]),
        f"- trees: before {doc['trees']['before']}, after {doc['trees']['after']}",
        f"- 1-minute load average at the start of each round (and at the end): "
        f"{', '.join(map(str, doc['load1_per_round']))}",
        "",
        "Medians over all rounds' steps; wall time and the process's CPU time (the latter "
        "excludes waiting for a core on the shared machine). Speed-up = before / after.",
        "",
        "| model | sequence | before wall ms | after wall ms | speed-up wall | before CPU ms "
        "| after CPU ms | speed-up CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        b, a = r["before"], r["after"]
        lines.append(
            f"| {r['model']} | {r['length']} | {b['wall_ms']:.1f} | {a['wall_ms']:.1f} | "
            f"{r['speedup_wall']:.2f}x | {b['cpu_ms']:.1f} | {a['cpu_ms']:.1f} | "
            f"{r['speedup_cpu']:.2f}x |"
        )
    for r in doc["results"]:
        if "floor_ms" in r["after"]:
            a, b = r["after"], r["before"]
            lines += ["", f"Mamba at L = 1024, forward + backward against its matrix-product "
                      f"floor ({a['gflops']:.0f} GFLOP/s measured, floor "
                      f"{a['floor_ms']:.1f} ms): before {b['cpu_over_floor']:.1f}x "
                      f"(CPU) / {r['before']['wall_over_floor']:.1f}x (wall), after "
                      f"{r['after']['cpu_over_floor']:.1f}x (CPU) / "
                      f"{r['after']['wall_over_floor']:.1f}x (wall)."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
