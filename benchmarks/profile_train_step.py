"""Where the time of one training step goes (CPU scale, copy length 20, batch 16).

    .venv/bin/python benchmarks/profile_train_step.py [--models vwave-mamba mamba]
        [--steps 20] [--threads 1]

For each model (registry default config at scale "cpu"), ``--steps`` training steps exactly
as :func:`wavescope.models.training.train_step` runs them, after 3 warm-up steps, with each
phase timed in wall time (``time.perf_counter``) and in the thread's CPU time
(``time.thread_time``, which on a shared machine excludes the time spent waiting for a
core: the fairer number under load): data (draw the batch, tensors), forward (per block:
the mixer's parts, through forward hooks), loss, backward, gradient clipping, optimizer
(AdamW + scheduler). Then one step under ``torch.profiler`` for the operators with the
most self time (forward and backward ops alike; wall time per op, so on a loaded machine a
preemption lands on whichever op was running), and ``--steps`` steps under a
``TorchDispatchMode`` that charges each aten op and each compiled-kernel call its thread
CPU time (the table to read when the machine is busy). Medians over the steps; the 1-minute load
average is printed with the results (the machine is shared).

Writes benchmarks/results/profile_train_step.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

BATCH, LENGTH = 16, 20


def _timed_hooks(model, sink: dict):
    """Forward hooks that add each mixer part's forward time to ``sink[name]``."""
    starts = {}

    def pre(name):
        def f(mod, args):
            starts[name] = time.perf_counter()

        return f

    def post(name):
        def f(mod, args, out):
            sink[name] += time.perf_counter() - starts.pop(name)

        return f

    handles = []
    for block in model.layers:
        mixer = block.mixer
        parts = {"mixer": mixer}
        for attr in ("context", "shift", "in_proj", "x_proj", "out_proj"):
            if isinstance(getattr(mixer, attr, None), __import__("torch").nn.Module):
                parts[f"mixer.{attr}"] = getattr(mixer, attr)
        if block.mlp is not None:
            parts["mlp"] = block.mlp
        for name, mod in parts.items():
            handles.append(mod.register_forward_pre_hook(pre(name)))
            handles.append(mod.register_forward_hook(post(name)))
    return handles


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _cpu_time_per_op(step, steps: int, top: int = 15) -> list[dict]:
    """Thread CPU ms per step of each aten op (by name) and each compiled-kernel call
    (its autograd function's forward or backward, children included), over ``steps``."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from wavescope.models import vwave
    from wavescope.models.scan import chunked

    try:
        from wavescope.models.scan import cpu_kernel
    except ImportError:  # a tree from before the compiled kernels
        cpu_kernel = None

    acc, calls = defaultdict(float), defaultdict(int)

    class Timed(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            c = time.thread_time()
            out = func(*args, **(kwargs or {}))
            key = f"aten::{func.overloadpacket.__name__}"
            acc[key] += time.thread_time() - c
            calls[key] += 1
            return out

    saved = []
    # the compiled kernels' autograd functions, the v-Wave ring's impulse response and the
    # torch chunked scan, where the profiled tree has them
    fns = (
        [getattr(cpu_kernel, n) for n in dir(cpu_kernel) if n.endswith("Fn")] if cpu_kernel else []
    )
    for mod, name in ((vwave, "_KernelSumFn"), (chunked, "_SelectiveScanFn")):
        if hasattr(mod, name):
            fns.append(getattr(mod, name))
    for cls in fns:
        for phase in ("forward", "backward"):
            orig = getattr(cls, phase)
            key = f"{cls.__name__}.{phase}"

            def timed(ctx, *a, _orig=orig, _key=key):
                c = time.thread_time()
                out = _orig(ctx, *a)
                acc[_key] += time.thread_time() - c
                calls[_key] += 1
                return out

            saved.append((cls, phase, orig))
            setattr(cls, phase, staticmethod(timed))
    try:
        with Timed():
            for _ in range(steps):
                step()
    finally:
        for cls, phase, orig in saved:
            setattr(cls, phase, staticmethod(orig))
    rows = sorted(acc.items(), key=lambda kv: -kv[1])[:top]
    return [{"op": k, "cpu_ms": 1e3 * v / steps, "calls": calls[k] // steps} for k, v in rows]


def profile(model_name: str, steps: int, threads: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    from wavescope.models.registry import build_model, default_config
    from wavescope.models.tasks import VOCAB_SIZE, masked_cross_entropy
    from wavescope.models.training import TrainHParams, make_copy_task, make_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = default_config(model_name, "cpu")
    model = build_model(model_name, VOCAB_SIZE, cfg)
    hp = TrainHParams(steps=10_000, batch_size=BATCH)
    opt, sched = make_optimizer(model, hp)
    task = make_copy_task(LENGTH, 0, cfg.max_len)
    dev = torch.device("cpu")
    phases, phases_cpu = defaultdict(list), defaultdict(list)
    parts_sink = defaultdict(float)
    parts = defaultdict(list)
    handles = _timed_hooks(model, parts_sink)

    def step(record: bool):
        t0 = _clock()
        batch = task.batch(BATCH)
        t = batch.to_torch(dev)
        t1 = _clock()
        parts_sink.clear()
        logits = model(t["tokens"])
        t2 = _clock()
        loss = masked_cross_entropy(logits, t["targets"], t["loss_mask"])
        t3 = _clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t4 = _clock()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        t5 = _clock()
        opt.step()
        sched.step()
        t6 = _clock()
        if record:
            ts = (t0, t1, t2, t3, t4, t5, t6)
            names = ("data", "forward", "loss", "backward", "clip", "optimizer")
            for i, k in enumerate(names):
                phases[k].append(ts[i + 1][0] - ts[i][0])
                phases_cpu[k].append(ts[i + 1][1] - ts[i][1])
            phases["total"].append(t6[0] - t0[0])
            phases_cpu["total"].append(t6[1] - t0[1])
            for k, v in parts_sink.items():
                parts[k].append(v)

    for _ in range(3):
        step(False)
    loads = [round(os.getloadavg()[0], 2)]
    for _ in range(steps):
        step(True)
    loads.append(round(os.getloadavg()[0], 2))
    for h in handles:
        h.remove()
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        step(False)
    cpu_ops = _cpu_time_per_op(lambda: step(False), steps)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_self = sum(e.self_cpu_time_total for e in ops)
    top = [
        {
            "op": e.key,
            "self_ms": e.self_cpu_time_total / 1000,
            "share": e.self_cpu_time_total / total_self,
            "calls": e.count,
        }
        for e in ops[:15]
    ]
    # the selective scan's own share, its children included (forward; backward recomputes):
    # the torch chunked path (_SelectiveScanFn) or the compiled kernel (_KernelScanFn); in
    # Mamba on float32 CPU the scan runs inside the fused mixer node (_MambaInnerFn, from
    # in_proj to the gate), reported on its own
    scan = {}
    for e in prof.key_averages():
        for name in ("_SelectiveScanFn", "_KernelScanFn", "_MambaInnerFn"):
            if e.key in (name, name + "Backward"):
                base = name if name == "_MambaInnerFn" else "_SelectiveScanFn"
                key = base + e.key[len(name) :]
                scan[key] = scan.get(key, 0.0) + e.cpu_time_total / 1000
    med = {k: statistics.median(v) for k, v in phases.items()}
    return {
        "model": model_name,
        "n_params": model.num_parameters(),
        "threads": threads,
        "steps": steps,
        "median_s": med,
        "median_cpu_s": {k: statistics.median(v) for k, v in phases_cpu.items()},
        "cpu_ms_per_step_by_op": cpu_ops,
        "forward_parts_median_s": {k: statistics.median(v) for k, v in sorted(parts.items())},
        "top_ops_one_step": top,
        "profiled_step_total_ms": total_self / 1000,
        "scan_inclusive_ms_one_step": scan,
        "load1": loads,
    }


def markdown(results, machine, argv) -> str:
    lines = [
        "# One training step, phase by phase (CPU scale, copy length 20, batch 16)",
        "",
        "Command: `.venv/bin/python benchmarks/profile_train_step.py " + " ".join(argv) + "`",
        "",
        *bl.machine_markdown(machine),
        f"- source tree: {machine.get('source_tree', '?')} (the wavescope package profiled)",
        "",
    ]
    for r in results:
        m, mc = r["median_s"], r["median_cpu_s"]
        tot, totc = m["total"], mc["total"]
        lines += [
            f"## {r['model']} ({r['n_params']:,} parameters, {r['threads']} thread(s), "
            f"median of {r['steps']} steps, load1 {r['load1'][0]}-{r['load1'][1]})",
            "",
            "| phase | wall ms | share | CPU ms | share |",
            "|---|---:|---:|---:|---:|",
        ]
        for k in ("data", "forward", "loss", "backward", "clip", "optimizer", "total"):
            lines.append(
                f"| {k} | {1000 * m[k]:.1f} | {m[k] / tot:.0%} | {1000 * mc[k]:.1f} | "
                f"{mc[k] / totc:.0%} |"
            )
        lines += ["", "Forward, per part (summed over the layers; parts nest in `mixer`):", ""]
        lines += ["| part | ms |", "|---|---:|"]
        for k, v in r["forward_parts_median_s"].items():
            lines.append(f"| {k} | {1000 * v:.1f} |")
        sc = r["scan_inclusive_ms_one_step"]
        lines += [
            "",
            f"Selective scan in the profiled step (children included, of "
            f"{r['profiled_step_total_ms']:.0f} ms under the profiler): forward "
            f"{sc.get('_SelectiveScanFn', 0):.1f} ms, backward (with its recomputation) "
            f"{sc.get('_SelectiveScanFnBackward', 0):.1f} ms.",
        ]
        if "_MambaInnerFn" in sc:
            lines[-1] += (
                f" The fused Mamba node (in_proj to the gate, the scan inside): forward "
                f"{sc['_MambaInnerFn']:.1f} ms, backward {sc.get('_MambaInnerFnBackward', 0):.1f}"
                " ms."
            )
        lines += ["", f"CPU (thread) time per step by aten op and by compiled-kernel call "
                  f"(its forward or backward, children included), over {r['steps']} steps "
                  "under a dispatch mode (whose Python overhead per op is outside each "
                  "op's time):", ""]  # fmt: skip
        lines += ["| op | CPU ms / step | calls / step |", "|---|---:|---:|"]
        for o in r["cpu_ms_per_step_by_op"]:
            lines.append(f"| `{o['op']}` | {o['cpu_ms']:.2f} | {o['calls']} |")
        lines += ["", "Operators with the most self time in one profiled step (wall time "
                  "per op: inflated at random by preemption on a busy machine):", ""]  # fmt: skip
        lines += ["| operator | self ms | share | calls |", "|---|---:|---:|---:|"]
        for o in r["top_ops_one_step"]:
            lines.append(f"| `{o['op']}` | {o['self_ms']:.1f} | {o['share']:.0%} | {o['calls']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["vwave-mamba", "mamba"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(bl.RESULTS / "profile_train_step"))
    args = p.parse_args(argv)
    machine = bl.machine_info(args.threads)
    import wavescope

    machine["source_tree"] = str(Path(wavescope.__file__).resolve().parents[1])
    results = [profile(m, args.steps, args.threads) for m in args.models]
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.with_suffix(".json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=1) + "\n"
    )
    shown = sys.argv[1:] if argv is None else list(argv)
    out.with_suffix(".md").write_text(markdown(results, machine, shown))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
