"""Mamba forward+backward on CPU: wavescope's chunked scan next to mambapy 1.2.0.

    .venv/bin/python benchmarks/bench_mamba_cpu.py [--quick] [--lengths 256 1024 4096]

Model (both sides): token embedding (V = 32), 2 Mamba blocks (d_model 64, d_state 16,
expand 2, conv width 4), final RMSNorm, tied head; batch 16; loss = cross-entropy on
random targets; ``torch.set_num_threads(2)``. wavescope's model comes from
``wavescope.models.registry.build_model("mamba", ...)``; mambapy's ``Mamba`` (its parallel
scan, ``pscan=True``) gets the same embedding, norm and head around it. With
``--scan-only`` the ``*-scan`` rows time one layer's selective scan alone (see
:func:`scan_step`).

Time: both implementations are built in one subprocess and timed alternately, step by
step (the order flips every round), so that both see the same load on a shared machine;
median over the timed steps after the warm-up (one step = forward + loss + backward +
zero_grad). Memory: each implementation in a fresh subprocess, one step; peak resident
set (``VmHWM``, reset after the model and inputs are built) above the resident set at
that point. A length whose predicted mambapy memory (scaled from the shorter lengths)
exceeds half the machine's available memory is skipped for mambapy, with the estimate.

Writes benchmarks/results/mamba_cpu.json and .md (``run_all.py`` puts the same section in
benchmarks/results/benchmarks.*).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

IMPLS = ("wavescope", "mambapy")
SCAN_IMPLS = ("wavescope-scan", "mambapy-scan")  # the selective scan alone, one layer's sizes
VOCAB, BATCH, D_MODEL, N_LAYERS, D_STATE = 32, 16, 64, 2, 16
THREADS = 2
FULL = {"lengths": (256, 1024, 4096), "warmup": 1, "reps": 5, "reps_long": 3}
QUICK = {"lengths": (256, 1024), "warmup": 1, "reps": 2, "reps_long": 2}
LONG = 2048  # lengths from here on use reps_long timed steps
MEM_FRACTION = 0.5
CHILD_TIMEOUT_S = 900.0


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
    """Peak memory of one step in this (fresh) process, MB above the built model."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step, model = make_step(impl, length)
    meter = bl.PeakMeter()
    meter.start()
    step()
    return {
        "impl": impl,
        **meter.stop(),
        "n_params": None if model is None else sum(p.numel() for p in model.parameters()),
    }


def time_worker(impls, length: int, warmup: int, reps: int, threads: int) -> list:
    """Time the implementations ``impls`` (one or two) in this process, alternating step by
    step (the order flips every round), so that they see the same load."""
    import torch

    impls = list(impls)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    steps = {impl: make_step(impl, length)[0] for impl in impls}
    times = {impl: [] for impl in impls}
    cpu = {impl: [] for impl in impls}
    for i in range(warmup + reps):
        for impl in impls if i % 2 == 0 else impls[::-1]:
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
        for impl in impls
    ]


def _child(args) -> dict | list:
    return bl.run_child([__file__, *args], CHILD_TIMEOUT_S)


def run(
    quick: bool = False,
    log=print,
    lengths=None,
    threads: int = THREADS,
    pair=IMPLS,
    warmup=None,
    reps=None,
) -> dict:
    """Time and memory of ``pair`` (wavescope, peer) at each length; JSON-ready section."""
    from peers import peer_status

    plan = QUICK if quick else FULL
    lengths = tuple(lengths or plan["lengths"])
    warmup = plan["warmup"] if warmup is None else warmup
    peer = peer_status("mambapy")
    if not peer["available"]:
        log(f"  mambapy skipped: {peer['reason']}")
    rows = []
    t_start = time.perf_counter()
    for length in sorted(lengths):
        n_reps = reps or (plan["reps"] if length < LONG else plan["reps_long"])
        row = {"L": length, "threads": threads, "warmup": warmup, "reps": n_reps, "impls": {}}
        run_impls = [pair[0]]
        if not peer["available"]:
            row["impls"][pair[1]] = {"status": "skipped", "reason": peer["reason"]}
        else:
            done = [(r["L"], r["impls"][pair[1]]) for r in rows]
            done = [(L, t) for L, t in done if t.get("status") == "ok"]
            est = {}
            if done:
                est = {
                    "median_ms": bl.extrapolate([(L, t["median_ms"]) for L, t in done], length),
                    "peak_mb": bl.extrapolate([(L, t["peak_mb"]) for L, t in done], length),
                }
            avail = bl.mem_available_mb()
            if est and avail and est["peak_mb"] > MEM_FRACTION * avail:
                row["impls"][pair[1]] = {
                    "status": "skipped",
                    "reason": (
                        f"predicted peak {est['peak_mb'] / 1024:.1f} GB (scaled from shorter "
                        f"lengths) exceeds {MEM_FRACTION:.0%} of the {avail / 1024:.1f} GB "
                        "available"
                    ),
                    "estimate": est,
                }
            else:
                run_impls.append(pair[1])
        timed = _child(
            ["--time-pair", *run_impls, "--lengths", length, "--warmup", warmup,
             "--reps", n_reps, "--threads", threads]
        )  # fmt: skip
        for k, impl in enumerate(run_impls):
            if isinstance(timed, dict) and "error" in timed:
                row["impls"][impl] = {"status": "error", "reason": timed["error"]}
                continue
            res = {"status": "ok", **timed[k]}
            mem = _child(["--memory", impl, "--lengths", length, "--threads", threads])
            if "error" in mem:
                res.update(status="error", reason=f"memory run: {mem['error']}")
            else:
                res.update(
                    peak_mb=mem["peak_mb"], baseline_mb=mem["baseline_mb"], n_params=mem["n_params"]
                )
            row["impls"][impl] = res
        a, b = (row["impls"].get(i, {}) for i in pair)
        b_time = b.get("median_ms") if b.get("status") == "ok" else None
        b_peak = b.get("peak_mb") if b.get("status") == "ok" else None
        row["ratios"] = {
            "speedup_vs_peer": bl.ratio(b_time, a.get("median_ms")),
            "cpu_time_ratio_peer_over_wavescope": bl.ratio(
                b.get("cpu_median_ms") if b_time else None, a.get("cpu_median_ms")
            ),
            "memory_fraction_of_peer": bl.ratio(a.get("peak_mb"), b_peak),
        }
        for impl in pair:
            r = row["impls"].get(impl, {})
            if r.get("status") == "ok":
                log(
                    f"  mamba L={length:5d} {impl:15s} {r['median_ms']:9.1f} ms "
                    f"(cpu {r['cpu_median_ms']:9.1f} ms)  peak {r.get('peak_mb', 0):8.1f} MB"
                )
            else:
                log(f"  mamba L={length:5d} {impl:15s} {r.get('status')}: {r.get('reason')}")
        rows.append(row)
    slopes = []
    for impl in pair:
        for metric in ("median_ms", "peak_mb"):
            pts = [
                (r["L"], r["impls"][impl].get(metric))
                for r in rows
                if r["impls"].get(impl, {}).get("status") == "ok"
            ]
            slopes.append(
                {
                    "impl": impl,
                    "metric": metric,
                    "vs": "L",
                    "n_points": len(pts),
                    "slope": bl.loglog_slope(*zip(*pts)) if pts else None,
                }
            )
    return {
        "config": {
            "vocab": VOCAB,
            "batch": BATCH,
            "d_model": D_MODEL,
            "n_layers": N_LAYERS,
            "d_state": D_STATE,
            "expand": 2,
            "d_conv": 4,
            "threads": threads,
            "warmup": warmup,
            "pair": list(pair),
            "quick": quick,
        },  # fmt: skip
        "peers": {"mambapy": peer},
        "rows": rows,
        "slopes": slopes,
        "targets": targets(rows),
        "wall_s": time.perf_counter() - t_start,
    }


def targets(rows, length: int = 1024) -> list[dict]:
    """Mamba CPU targets at ``length``: >= 3x faster than mambapy, <= 1/4 of its memory."""
    row = next((r for r in rows if r["L"] == length), None)
    q = row["ratios"] if row else {}
    where = f"L={length}" if row else f"L={length} not measured"
    return [
        bl.check_target(
            "Mamba CPU: speed-up vs mambapy", q.get("speedup_vs_peer"), ">=", 3.0, where
        ),
        bl.check_target(
            "Mamba CPU: memory / mambapy's", q.get("memory_fraction_of_peer"), "<=", 0.25, where
        ),
    ]


def markdown(sec: dict) -> list[str]:
    c = sec["config"]
    a, b = c["pair"]
    lines = [
        "## Mamba forward+backward on CPU",
        "",
        f"d_model {c['d_model']}, {c['n_layers']} layers, d_state {c['d_state']}, expand "
        f"{c['expand']}, batch {c['batch']}, vocabulary {c['vocab']}; "
        f"torch.set_num_threads({c['threads']}). One step = forward + cross-entropy + "
        "backward. Time: median wall clock of the timed steps (CPU = process CPU time), the "
        "two implementations alternating step by step in one process; peak: VmHWM growth "
        "during one step in a fresh process, MB.",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        cells = [str(r["L"]), str(r["reps"])]
        for impl in (a, b):
            t = r["impls"].get(impl, {})
            if t.get("status") == "ok":
                cells += [
                    f"{t['median_ms']:.1f}",
                    f"{t['cpu_median_ms']:.1f}",
                    bl.fmt(t.get("peak_mb"), ".1f"),
                ]
            else:
                est = t.get("estimate", {})
                cells += [
                    f"{t.get('status', '—')}"
                    + (f" (~{est['median_ms']:.0f} est.)" if est.get("median_ms") else ""),
                    "—",
                    "—" if not est.get("peak_mb") else f"~{est['peak_mb']:.0f} est.",
                ]
        q = r["ratios"]
        cells += [
            _r(q["speedup_vs_peer"]),
            _r(q["cpu_time_ratio_peer_over_wavescope"]),
            bl.fmt(q["memory_fraction_of_peer"], ".3f"),
        ]
        rows.append(cells)
    lines += bl.md_table(
        [
            "L",
            "timed steps",
            f"{a} ms",
            f"{a} CPU ms",
            f"{a} peak MB",
            f"{b} ms",
            f"{b} CPU ms",
            f"{b} peak MB",
            f"speed-up ({b} / {a})",
            "CPU-time ratio",
            f"memory ({a} / {b})",
        ],
        rows,
    )
    notes = [
        f"- L={r['L']}, {impl}: {t['reason']}"
        for r in sec["rows"]
        for impl, t in r["impls"].items()
        if t.get("status") != "ok"
    ]
    if notes:
        lines += ["", "Not measured:", "", *notes]
    return lines


def _r(x) -> str:
    return "—" if x is None else f"{x:.2f}x"


def slopes_markdown(sec: dict) -> list[str]:
    got = {(s["impl"], s["metric"]): s for s in sec["slopes"]}
    rows = [
        [
            impl,
            bl.fmt(got.get((impl, "median_ms"), {}).get("slope"), ".2f"),
            bl.fmt(got.get((impl, "peak_mb"), {}).get("slope"), ".2f"),
            str(got.get((impl, "median_ms"), {}).get("n_points", 0)),
        ]
        for impl in sec["config"]["pair"]
    ]
    return [
        "Mamba forward+backward on CPU:",
        "",
        *bl.md_table(["implementation", "time vs L", "peak memory vs L", "points"], rows),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short lengths, few steps")
    p.add_argument("--lengths", type=int, nargs="+", default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--threads", type=int, nargs="+", default=[THREADS],
                   help="torch.set_num_threads values to run (default 2)")  # fmt: skip
    p.add_argument("--scan-only", action="store_true",
                   help="time one layer's selective scan alone instead of the model")  # fmt: skip
    p.add_argument("--memory", choices=IMPLS + SCAN_IMPLS, help=argparse.SUPPRESS)
    p.add_argument("--time-pair", nargs="+", choices=IMPLS + SCAN_IMPLS, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: results/; --quick: print only)")  # fmt: skip
    args = p.parse_args(argv)
    if args.memory:
        print(json.dumps(memory_worker(args.memory, args.lengths[0], args.threads[0])))
        return 0
    if args.time_pair:
        res = time_worker(args.time_pair, args.lengths[0], args.warmup, args.reps, args.threads[0])
        print(json.dumps(res))
        return 0
    pair = SCAN_IMPLS if args.scan_only else IMPLS
    machine = bl.machine_info(torch_threads=args.threads[0])
    secs = [
        run(args.quick, lengths=args.lengths, threads=t, pair=pair, warmup=args.warmup,
            reps=args.reps)
        for t in args.threads
    ]  # fmt: skip
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    md = ["# Mamba CPU benchmark", "", *bl.machine_markdown(machine)]
    for sec in secs:
        md += ["", *markdown(sec)]
    print("\n".join(md))
    out = args.out or (None if args.quick else bl.RESULTS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "mamba_cpu.json").write_text(
            json.dumps({"machine": machine, "mamba": secs}, indent=2) + "\n"
        )
        (out / "mamba_cpu.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
