"""Mamba forward+backward on CPU: wavescope's chunked scan next to mambapy 1.2.0.

Model (both sides): token embedding (V = 32), 2 Mamba blocks (d_model 64, d_state 16,
expand 2, conv width 4), final RMSNorm, tied head; batch 16; loss = cross-entropy on
random targets; ``torch.set_num_threads(2)``. wavescope's model comes from
``wavescope.models.registry.build_model("mamba", ...)``; mambapy's ``Mamba`` (its parallel
scan, ``pscan=True``) gets the same embedding, norm and head around it. The ``*-scan``
rows time one layer's selective scan alone (see :func:`scan_step`).

Time: both implementations are built in one subprocess and timed alternately, step by
step (the order flips every round), so that both see the same load on a shared machine;
median over ``--reps`` steps after ``--warmup`` steps (one step = forward + loss +
backward + zero_grad). Memory: each implementation in a fresh subprocess, one step;
peak resident set size (``ru_maxrss``) minus the RSS after imports, model build and input
creation.

Usage::

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/bench_mamba_cpu.py            # writes benchmarks/results/
    .venv/bin/python benchmarks/bench_mamba_cpu.py --lengths 256 --reps 3 --threads 2 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPLS = ("wavescope", "mambapy")
SCAN_IMPLS = ("wavescope-scan", "mambapy-scan")  # the selective scan alone, one layer's sizes
VOCAB, BATCH, D_MODEL, N_LAYERS, D_STATE = 32, 16, 64, 2, 16
RESULTS = Path(__file__).resolve().parent / "results"


def _rss_mb() -> float:
    """Peak RSS of this process so far, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(impl: str):
    import torch
    from torch import nn

    if impl == "wavescope":
        from wavescope.models.registry import build_model, default_config

        cfg = default_config(
            "mamba",
            "cpu",
            d_model=D_MODEL,
            n_layers=N_LAYERS,
            d_state=D_STATE,
            expand=2,
            d_conv=4,
            mlp_ratio=0.0,
        )
        return build_model("mamba", VOCAB, cfg)
    if impl == "mambapy":
        from mambapy.mamba import Mamba, MambaConfig, RMSNorm

        class MambapyLM(nn.Module):
            def __init__(self):
                super().__init__()
                cfg = MambaConfig(
                    d_model=D_MODEL,
                    n_layers=N_LAYERS,
                    d_state=D_STATE,
                    expand_factor=2,
                    d_conv=4,
                    pscan=True,
                )
                self.embedding = nn.Embedding(VOCAB, D_MODEL)
                self.mamba = Mamba(cfg)
                self.norm = RMSNorm(D_MODEL)

            def forward(self, tokens):
                # tokens : (B, L) -> logits (B, L, V)
                x = self.norm(self.mamba(self.embedding(tokens)))
                return x @ self.embedding.weight.t()

        torch.manual_seed(0)
        return MambapyLM()
    raise SystemExit(f"unknown implementation {impl!r}")


def scan_step(impl: str, length: int):
    """One layer's selective scan alone (Bt 16, Dm 128, N 16): a closure doing fwd + bwd.

    ``mambapy-scan`` is mambapy's ``MambaBlock.selective_scan`` arithmetic (exp(delta A),
    delta B u, its ``pscan``, contraction with C, skip D); ``wavescope-scan`` is
    ``wavescope.models.scan.selective_scan`` with the same inputs.
    """
    import torch

    Dm, N = 2 * D_MODEL, D_STATE
    u = torch.randn(BATCH, length, Dm, requires_grad=True)
    delta = (torch.rand(BATCH, length, Dm) * 0.1 + 1e-3).requires_grad_()
    A = (-torch.arange(1, N + 1, dtype=torch.float32).repeat(Dm, 1)).requires_grad_()
    B = torch.randn(BATCH, length, N, requires_grad=True)
    C = torch.randn(BATCH, length, N, requires_grad=True)
    D = torch.ones(Dm, requires_grad=True)
    if impl == "mambapy-scan":
        from mambapy.pscan import pscan

        def fwd():
            dA = torch.exp(delta.unsqueeze(-1) * A)  # (B, L, ED, N)
            BX = delta.unsqueeze(-1) * B.unsqueeze(2) * u.unsqueeze(-1)  # (B, L, ED, N)
            hs = pscan(dA, BX)
            return (hs @ C.unsqueeze(-1)).squeeze(3) + D * u  # (B, L, ED)
    else:
        from wavescope.models.scan import selective_scan

        def fwd():
            return selective_scan(u, delta, A, B, C, D)

    def step():
        fwd().square().mean().backward()
        for t in (u, delta, A, B, C, D):
            t.grad = None

    return step


def make_step(impl: str, length: int):
    """(step, model) for one implementation: step() runs forward + loss + backward."""
    import torch

    if impl in SCAN_IMPLS:
        return scan_step(impl, length), None
    model = build(impl)
    tokens = torch.randint(VOCAB, (BATCH, length))
    targets = torch.randint(VOCAB, (BATCH, length))

    def step():
        logits = model(tokens)  # (B, L, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)

    return step, model


def memory_worker(impl: str, length: int, threads: int) -> dict:
    """Peak RSS growth of one step in this (fresh) process, MB."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step, model = make_step(impl, length)
    base_peak, base_now = _rss_mb(), _current_rss_mb()
    step()
    return {
        "impl": impl,
        "peak_mem_mb": _rss_mb() - max(base_peak, base_now),
        "n_params": None if model is None else sum(p.numel() for p in model.parameters()),
    }


def time_worker(pair, length: int, warmup: int, reps: int, threads: int) -> list:
    """Time both implementations of ``pair`` in this process, alternating step by step.

    Alternating makes both see the same load on a shared machine.
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    steps = {impl: make_step(impl, length)[0] for impl in pair}
    times = {impl: [] for impl in pair}
    cpu = {impl: [] for impl in pair}
    for i in range(warmup + reps):
        for impl in pair if i % 2 == 0 else pair[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            steps[impl]()
            if i >= warmup:
                times[impl].append(time.perf_counter() - t0)
                cpu[impl].append(time.process_time() - c0)
    return [
        {
            "impl": impl,
            "L": length,
            "threads": threads,
            "median_ms": 1e3 * statistics.median(times[impl]),
            "min_ms": 1e3 * min(times[impl]),
            "cpu_median_ms": 1e3 * statistics.median(cpu[impl]),
            "times_ms": [round(1e3 * t, 1) for t in times[impl]],
        }
        for impl in pair
    ]


def _subprocess_json(args):
    cmd = [sys.executable, __file__, *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(f"worker {args} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_info() -> dict:
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    try:
        from importlib.metadata import version

        mambapy_version = version("mambapy")
    except Exception:
        mambapy_version = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": 2,
        "torch": torch.__version__,
        "mambapy": mambapy_version,
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_all(lengths, warmup, reps, threads_list=(2,), pairs=(IMPLS,)) -> dict:
    """Time each pair alternating in one subprocess; memory of each in a fresh one."""
    info = machine_info()  # before the runs: the load average is the one they start under
    rows = []
    for threads in threads_list:
        for length in lengths:
            for pair in pairs:
                timed = _subprocess_json(
                    ["--time-pair", *pair, "--lengths", length, "--warmup", warmup,
                     "--reps", reps, "--threads", threads]
                )  # fmt: skip
                for row in timed:
                    mem = _subprocess_json(
                        ["--memory", row["impl"], "--lengths", length, "--threads", threads]
                    )
                    row.update(peak_mem_mb=mem["peak_mem_mb"], n_params=mem["n_params"])
                    rows.append(row)
                    print(
                        f"  {threads} thr  {row['impl']:14s} L={length:5d}  "
                        f"{row['median_ms']:8.1f} ms (cpu {row['cpu_median_ms']:8.1f} ms)  "
                        f"{row['peak_mem_mb']:8.1f} MB",
                        flush=True,
                    )
    ratios = []
    for threads in threads_list:
        for length in lengths:
            for pair in pairs:
                ws, mp = (
                    next(r for r in rows if (r["impl"], r["L"], r["threads"]) == key)
                    for key in ((pair[0], length, threads), (pair[1], length, threads))
                )
                ratios.append({
                    "what": "model" if pair == IMPLS else "scan only",
                    "threads": threads,
                    "L": length,
                    "speedup_vs_mambapy": mp["median_ms"] / ws["median_ms"],
                    "cpu_time_ratio_mambapy_over_wavescope": (
                        mp["cpu_median_ms"] / ws["cpu_median_ms"]
                    ),
                    "memory_fraction_of_mambapy": ws["peak_mem_mb"] / mp["peak_mem_mb"],
                })  # fmt: skip
    config = {
        "vocab": VOCAB, "batch": BATCH, "d_model": D_MODEL, "n_layers": N_LAYERS,
        "d_state": D_STATE, "expand": 2, "d_conv": 4, "warmup": warmup, "reps": reps,
    }  # fmt: skip
    info["load_avg_at_end"] = os.getloadavg()
    return {"machine": info, "config": config, "rows": rows, "ratios": ratios}


def to_markdown(res: dict) -> str:
    m = res["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_avg_at_start"])
    load_end = ", ".join(f"{x:.2f}" for x in m.get("load_avg_at_end", ()))
    lines = [
        "# Mamba forward+backward on CPU: wavescope vs mambapy",
        "",
        f"{m['cpu']}, {m['cores']} cores; torch {m['torch']}, mambapy {m['mambapy']}; "
        f"{m['date_utc']}; load average (1, 5, 15 min) at start {load}, at end {load_end} "
        "(the machine is shared: other "
        "processes compete for the 2 cores, so wall times are noisy; CPU time of the "
        "process is given too).",
        "",
        "Model: d_model 64, 2 layers, d_state 16, expand 2, batch 16; one step = forward + "
        "cross-entropy + backward. Time: median of the timed steps (wall clock; CPU = "
        "process CPU time), the two implementations alternating step by step in one "
        "process; memory: peak RSS growth during one step, each implementation in a fresh "
        "process. `torch.set_num_threads` as in the threads column. Rows "
        "`*-scan` time one layer's selective scan alone (batch 16, Dm 128, N 16, forward + "
        "backward): wavescope's `selective_scan` vs mambapy's selective-scan arithmetic "
        "with its `pscan`.",
        "",
        "| threads | L | implementation | median ms | min ms | CPU ms | peak memory MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['threads']} | {r['L']} | {r['impl']} | {r['median_ms']:.1f} | "
            f"{r['min_ms']:.1f} | {r['cpu_median_ms']:.1f} | {r['peak_mem_mb']:.1f} |"
        )
    lines += [
        "",
        "| what | threads | L | speed-up vs mambapy (wall) | CPU-time ratio | memory / mambapy's |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for q in res["ratios"]:
        lines.append(
            f"| {q['what']} | {q['threads']} | {q['L']} | {q['speedup_vs_mambapy']:.2f}x | "
            f"{q['cpu_time_ratio_mambapy_over_wavescope']:.2f}x | "
            f"{q['memory_fraction_of_mambapy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[2],
                   help="torch.set_num_threads values to run (default 2)")  # fmt: skip
    p.add_argument("--no-scan-only", action="store_true",
                   help="skip the rows that time the selective scan alone")  # fmt: skip
    p.add_argument("--memory", choices=IMPLS + SCAN_IMPLS, help=argparse.SUPPRESS)
    p.add_argument("--time-pair", nargs=2, choices=IMPLS + SCAN_IMPLS, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.memory:
        print(json.dumps(memory_worker(args.memory, args.lengths[0], args.threads[0])))
        return 0
    if args.time_pair:
        res = time_worker(args.time_pair, args.lengths[0], args.warmup, args.reps, args.threads[0])
        print(json.dumps(res))
        return 0
    pairs = (IMPLS,) if args.no_scan_only else (IMPLS, SCAN_IMPLS)
    res = run_all(args.lengths, args.warmup, args.reps, args.threads, pairs)
    print(to_markdown(res))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mamba_cpu.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "mamba_cpu.md").write_text(to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
