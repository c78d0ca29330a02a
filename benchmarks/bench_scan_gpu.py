"""GPU: wavescope's Triton selective scan next to mambapy's pscan and the bandwidth floor.

    .venv/bin/python benchmarks/bench_scan_gpu.py [--quick] [--out FILE.json]
    .venv/bin/python benchmarks/bench_scan_gpu.py --cpu-check   # logic only, no GPU

The scan (one Mamba layer's S6 recurrence, real, B and C shared across channels, skip D)::

    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t ;  y_t = C_t . h_t + D u_t

- ``wavescope``: ``wavescope.models.scan.selective_scan(u, delta, A, B, C, D,
  backend="triton")``;
- ``mambapy``: mambapy 1.2.0's own ``MambaBlock.selective_scan`` (``exp(delta A)``,
  ``delta B u``, its ``pscan``, contraction with C, skip D), which materialises
  (Bt, L, Dm, N) tensors;
- ``floor``: the time to move the bytes the scan must move at least (read its inputs
  u, delta, A, B, C, D, write y; forward+backward also reads them again with dy and
  writes every gradient), measured as a device-to-device copy of the same number of
  bytes (a copy of S bytes reads S and writes S, so the copy moves (read + write) / 2).

Reported per size: median time over the timed repeats (CUDA events), peak memory above
the inputs (``torch.cuda.max_memory_allocated``), the fraction of the floor achieved
(floor time / scan time; 1.0 = at the copy bandwidth), speed-up and memory ratio against
mambapy, and the largest difference between the two outputs. Without CUDA the result
is ``{"status": "not run: no CUDA device"}``. ``--cpu-check`` runs the whole script at a
tiny size on the CPU (Triton's interpreter for the kernel) to check its logic: its
numbers are not GPU measurements.
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

# (Bt, L, Dm, N): Dm = 1536 is the inner width of a 768-wide Mamba (expand 2)
FULL = {"sizes": [(4, 4096, 1536, 16), (16, 4096, 1536, 16), (64, 4096, 1536, 16)], "reps": 10}
QUICK = {"sizes": [(2, 1024, 256, 16), (8, 2048, 768, 16)], "reps": 5}
CPU_CHECK = {"sizes": [(1, 32, 8, 4), (2, 64, 8, 4)], "reps": 1}
#: (Bt, L, Dm, N) float32 tensors mambapy holds at once in forward+backward (deltaA,
#: deltaB, BX, hs, the pscan's copies and their gradients), for the memory prediction.
MAMBAPY_4D_TENSORS = 10
TARGET_FRACTION = 0.5


def io_bytes(Bt: int, L: int, Dm: int, N: int, elem: int = 4, backward: bool = False) -> dict:
    """Least bytes the scan reads and writes (see the module docstring).

    Forward reads u, delta (Bt, L, Dm), A (Dm, N), B, C (Bt, L, N), D (Dm) and writes
    y (Bt, L, Dm). Forward+backward adds a backward pass that reads the same inputs and
    dy (Bt, L, Dm) and writes du, ddelta, dA, dB, dC, dD.
    """
    seq, bc, a, d = Bt * L * Dm * elem, Bt * L * N * elem, Dm * N * elem, Dm * elem
    inputs = 2 * seq + a + 2 * bc + d
    read, write = inputs, seq
    if backward:
        read += inputs + seq
        write += inputs
    return {"read": read, "write": write, "total": read + write}


def _make_inputs(torch, Bt, L, Dm, N, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g).to(device)

    u = rnd(Bt, L, Dm)
    delta = torch.nn.functional.softplus(rnd(Bt, L, Dm) - 2.0)  # Mamba's softplus step
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(Dm, 1).to(device)  # S4D-real
    B, C = rnd(Bt, L, N), rnd(Bt, L, N)
    D = torch.ones(Dm, device=device)
    return [u, delta, A, B, C, D]


class _Timer:
    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device.type == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def __call__(self, fn, warmup: int, reps: int) -> float:
        """Median seconds of ``fn()`` over ``reps`` calls after ``warmup`` calls."""
        for _ in range(warmup):
            fn()
        self.sync()
        ts = []
        for _ in range(reps):
            if self.cuda:
                s = self.torch.cuda.Event(enable_timing=True)
                e = self.torch.cuda.Event(enable_timing=True)
                s.record()
                fn()
                e.record()
                e.synchronize()
                ts.append(s.elapsed_time(e) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
        return statistics.median(ts)


def _peak_bytes(torch, device, fn) -> int | None:
    """Peak device memory of ``fn()`` above what was allocated before it (CUDA only)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def copy_floor(torch, device, n_bytes: int, timer, warmup: int, reps: int) -> dict:
    """Seconds of a device-to-device copy moving ``n_bytes`` in all (half read, half
    written), and the bandwidth it achieves."""
    n = max(int(n_bytes // 2 // 4), 1)  # float32 elements copied
    src = torch.empty(n, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    sec = timer(lambda: dst.copy_(src), warmup, reps)
    return {"seconds": sec, "bytes": 2 * 4 * n, "gb_per_s": 2 * 4 * n / sec / 1e9}


def _scan_fns(torch, impl, inputs, dy):
    """(forward, forward+backward) closures of one implementation."""
    if impl == "wavescope":
        from wavescope.models.scan import selective_scan

        def fwd(*xs):
            return selective_scan(*xs, backend="triton")
    else:
        from mambapy.mamba import MambaBlock

        def fwd(*xs):
            # mambapy's method uses no attribute of its block: call it unbound
            return MambaBlock.selective_scan(None, *xs)

    def forward():
        with torch.no_grad():
            return fwd(*inputs)

    leaves = [x.detach().clone().requires_grad_() for x in inputs]

    def forward_backward():
        y = fwd(*leaves)
        y.backward(dy)
        for x in leaves:
            x.grad = None

    return forward, forward_backward


def measure_size(torch, device, size, impls, timer, warmup, reps, log=print) -> dict:
    Bt, L, Dm, N = size
    inputs = _make_inputs(torch, Bt, L, Dm, N, device)
    dy = torch.randn(Bt, L, Dm, device=device)
    row = {"Bt": Bt, "L": L, "Dm": Dm, "N": N, "modes": {}}
    outputs = {}
    for mode, backward in (("forward", False), ("forward+backward", True)):
        nbytes = io_bytes(Bt, L, Dm, N, backward=backward)
        floor = copy_floor(torch, device, nbytes["total"], timer, warmup, reps)
        m = {"bytes": nbytes, "floor": floor, "impls": {}}
        for impl in impls:
            res = _measure_impl(torch, device, impl, inputs, dy, backward, timer, warmup, reps)
            if res.get("status") == "ok":
                res["fraction_of_floor"] = bl.ratio(floor["seconds"], res["seconds"])
                res["achieved_gb_per_s"] = nbytes["total"] / res["seconds"] / 1e9
                if not backward:
                    with torch.no_grad():
                        outputs[impl] = _scan_fns(torch, impl, inputs, dy)[0]().float().cpu()
            m["impls"][impl] = res
            log(_log_line(size, mode, impl, res))
        ws, mp = m["impls"].get("wavescope", {}), m["impls"].get("mambapy", {})
        m["speedup_vs_mambapy"] = bl.ratio(mp.get("seconds"), ws.get("seconds"))
        m["memory_fraction_of_mambapy"] = bl.ratio(ws.get("peak_bytes"), mp.get("peak_bytes"))
        row["modes"][mode] = m
    if len(outputs) == 2:
        a, b = outputs["wavescope"], outputs["mambapy"]
        row["max_rel_diff_vs_mambapy"] = float((a - b).abs().max() / b.abs().max())
    return row


def _measure_impl(torch, device, impl, inputs, dy, backward, timer, warmup, reps) -> dict:
    try:
        fns = _scan_fns(torch, impl, inputs, dy)
        fn = fns[1] if backward else fns[0]
        sec = timer(fn, warmup, reps)
        peak = _peak_bytes(torch, device, fn)
        return {"status": "ok", "seconds": sec, "peak_bytes": peak}
    except Exception as exc:  # out of memory above all: record it, go on
        if device.type == "cuda":
            torch.cuda.empty_cache()
        kind = "out of memory" if "out of memory" in str(exc).lower() else type(exc).__name__
        return {"status": "error", "reason": f"{kind}: {str(exc).splitlines()[0][:200]}"}


def _log_line(size, mode, impl, res) -> str:
    head = f"  gpu {'x'.join(map(str, size)):>18s} {mode:16s} {impl:9s}"
    if res.get("status") != "ok":
        return f"{head} {res.get('status')}: {res.get('reason')}"
    return (
        f"{head} {res['seconds'] * 1e3:9.3f} ms  {res['fraction_of_floor']:.3f} of floor  "
        f"({res['achieved_gb_per_s']:.0f} GB/s)"
    )


def run(quick: bool = False, cpu_check: bool = False, log=print) -> dict:
    """The GPU section (JSON-ready); ``status`` says why when nothing ran."""
    import torch
    from peers import peer_status

    if cpu_check:
        device, plan, warmup = torch.device("cpu"), CPU_CHECK, 0
    elif not torch.cuda.is_available():
        return {"status": "not run: no CUDA device", "targets": targets([])}
    else:
        device, plan, warmup = torch.device("cuda"), (QUICK if quick else FULL), 2
    try:
        import triton  # noqa: F401
    except Exception as exc:
        return {"status": f"not run: triton does not import ({exc})", "targets": targets([])}
    peer = peer_status("mambapy")
    timer = _Timer(torch, device)
    rows = []
    t0 = time.perf_counter()
    for size in plan["sizes"]:
        impls = ["wavescope"]
        skip = None
        if not peer["available"]:
            skip = peer["reason"]
        elif device.type == "cuda":
            need = MAMBAPY_4D_TENSORS * 4 * size[0] * size[1] * size[2] * size[3]
            free = torch.cuda.mem_get_info()[0]
            if need > 0.9 * free:
                skip = f"predicted {need / 2**30:.0f} GiB exceeds the {free / 2**30:.0f} GiB free"
        if skip is None:
            impls.append("mambapy")
        row = measure_size(torch, device, size, impls, timer, warmup, plan["reps"], log)
        if skip:
            row["mambapy_skipped"] = skip
        rows.append(row)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu (--cpu-check)"
    return {
        "status": "ok" if not cpu_check else "cpu-check: logic only, not a GPU measurement",
        "device": name,
        "torch": torch.__version__,
        "mambapy": peer.get("version"),
        "reps": plan["reps"],
        "rows": rows,
        "slopes": slopes(rows),
        "targets": targets(rows),
        "wall_s": time.perf_counter() - t0,
    }


def slopes(rows) -> list[dict]:
    """Log-log slope of time and peak memory vs the batch (the sizes differ in Bt)."""
    out = []
    for mode in ("forward", "forward+backward"):
        for impl in ("wavescope", "mambapy"):
            for metric in ("seconds", "peak_bytes"):
                pts = [
                    (r["Bt"] * r["L"] * r["Dm"], r["modes"][mode]["impls"][impl].get(metric))
                    for r in rows
                    if r["modes"][mode]["impls"].get(impl, {}).get("status") == "ok"
                ]
                out.append(
                    {
                        "impl": impl,
                        "mode": mode,
                        "metric": metric,
                        "vs": "Bt x L x Dm",
                        "n_points": len(pts),
                        "slope": bl.loglog_slope(*zip(*pts)) if pts else None,
                    }
                )
    return out


def targets(rows) -> list[dict]:
    """GPU scan >= 50% of the bandwidth floor, forward and forward+backward, at the
    largest size measured."""
    out = []
    for mode in ("forward", "forward+backward"):
        ok = [r for r in rows if r["modes"][mode]["impls"]["wavescope"].get("status") == "ok"]
        if not ok:
            out.append(
                bl.check_target(
                    f"GPU scan ({mode}): fraction of bandwidth floor",
                    None,
                    ">=",
                    TARGET_FRACTION,
                    "no GPU measurement",
                )
            )
            continue
        r = max(ok, key=lambda r: r["Bt"] * r["L"] * r["Dm"] * r["N"])
        out.append(
            bl.check_target(
                f"GPU scan ({mode}): fraction of bandwidth floor",
                r["modes"][mode]["impls"]["wavescope"]["fraction_of_floor"],
                ">=",
                TARGET_FRACTION,
                f"Bt={r['Bt']} L={r['L']} Dm={r['Dm']} N={r['N']}",
            )
        )
    return out


def markdown(sec: dict) -> list[str]:
    lines = ["## Selective scan on GPU", ""]
    if "rows" not in sec:
        return lines + [f"{sec['status']}."]
    lines += [
        f"Device: {sec['device']}; torch {sec['torch']}; mambapy {sec['mambapy']}. "
        f"Status: {sec['status']}. Median of {sec['reps']} timed calls (CUDA events). Floor: "
        "a device-to-device copy moving the scan's least bytes (inputs read, outputs "
        "written); fraction = floor time / scan time.",
        "",
    ]
    rows = []
    for r in sec["rows"]:
        for mode, m in r["modes"].items():
            ws, mp = m["impls"].get("wavescope", {}), m["impls"].get("mambapy", {})
            rows.append(
                [
                    f"{r['Bt']}x{r['L']}x{r['Dm']}x{r['N']}",
                    mode,
                    f"{m['bytes']['total'] / 1e9:.3f}",
                    f"{m['floor']['seconds'] * 1e3:.3f} ({m['floor']['gb_per_s']:.0f} GB/s)",
                    _ms(ws),
                    bl.fmt(ws.get("fraction_of_floor"), ".3f"),
                    _ms(mp) if mp else r.get("mambapy_skipped", "—"),
                    bl.fmt(mp.get("fraction_of_floor"), ".3f"),
                    bl.fmt_ratio(m["speedup_vs_mambapy"]),
                    bl.fmt(m["memory_fraction_of_mambapy"], ".3f"),
                ]
            )
    lines += bl.md_table(
        [
            "Bt x L x Dm x N",
            "mode",
            "least GB moved",
            "floor ms",
            "wavescope ms",
            "of floor",
            "mambapy ms",
            "of floor",
            "speed-up",
            "memory / mambapy's",
        ],
        rows,
    )
    diffs = [
        f"{r['Bt']}x{r['L']}x{r['Dm']}x{r['N']}: {r['max_rel_diff_vs_mambapy']:.1e}"
        for r in sec["rows"]
        if "max_rel_diff_vs_mambapy" in r
    ]
    if diffs:
        lines += ["", "Largest |y_wavescope - y_mambapy| / max |y_mambapy|: " + "; ".join(diffs)]
    return lines


def slopes_markdown(sec: dict) -> list[str]:
    slopes = [s for s in sec.get("slopes", []) if s["n_points"]]
    if not slopes:
        return []
    got = {(s["mode"], s["impl"], s["metric"]): s for s in slopes}
    rows = [
        [
            mode,
            impl,
            bl.fmt(got.get((mode, impl, "seconds"), {}).get("slope"), ".2f"),
            bl.fmt(got.get((mode, impl, "peak_bytes"), {}).get("slope"), ".2f"),
            str(got.get((mode, impl, "seconds"), {}).get("n_points", 0)),
        ]
        for mode in ("forward", "forward+backward")
        for impl in ("wavescope", "mambapy")
    ]
    return [
        "Selective scan on GPU (size = Bt x L x Dm):",
        "",
        *bl.md_table(
            ["mode", "implementation", "time vs size", "peak memory vs size", "points"], rows
        ),
    ]


def _ms(res: dict) -> str:
    if res.get("status") == "ok":
        return f"{res['seconds'] * 1e3:.3f}"
    return res.get("reason", "—")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--cpu-check", action="store_true", help="tiny sizes on the CPU (logic)")
    ap.add_argument("--json", action="store_true", help="print only the JSON section")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON section here")
    args = ap.parse_args(argv)
    if args.cpu_check:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    sec = run(quick=args.quick, cpu_check=args.cpu_check, log=log)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(sec, indent=2) + "\n")
    if args.json:
        print(json.dumps(sec))
    else:
        print("\n".join(markdown(sec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
