"""Time and memory of the velocity pipeline next to its floor, one rfft + irfft pass.

    python benchmarks/bench_velocity.py [--sites 64] [--seconds 600] [--fs 1000]

Writes benchmarks/results/velocity_cpu.json and .md. Each measurement runs in a fresh
subprocess: the input is generated once into a temporary .npy, then each subprocess
imports what it needs, records its resident memory (the interpreter's baseline with its
imports), loads the input and runs; peak memory above that baseline is reported next to
the input's size (peak = VmHWM, the process's own high-water mark). The job is the one
wavespace was measured on (REFERENCES.md: 52.6 s, 3.8 GB): 64 sites x 600 s x 1 kHz, a
10 Hz plane wave in noise, band 8-12 Hz.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np
    import scipy.fft as sfft
    {imports}

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    base = rss_mb()
    x = np.load({path!r})
    t0 = time.perf_counter()
    {job}
    dt = time.perf_counter() - t0
    # VmHWM: this process's own peak RSS (ru_maxrss would carry over the parent's peak
    # across fork + exec and overstate it)
    with open("/proc/self/status") as f:
        peak = next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")) / 1024
    print(json.dumps({{"seconds": dt, "peak_above_baseline_mb": peak - base,
                       "baseline_mb": base, "input_mb": x.nbytes / 2**20}}))
    """
)

JOBS = {
    "floor: rfft + irfft": dict(
        imports="",
        job="y = sfft.irfft(sfft.rfft(x, axis=1, workers=-1), x.shape[1], axis=1, workers=-1)",
    ),
    "wavescope velocity (defaults: surrogates, epochs, patterns)": dict(
        imports="from wavescope import WaveField, measure_velocity\n"
        "from wavescope.datasets import grid_positions",
        job="r = measure_velocity(WaveField(x, {fs}, grid_positions(8, 8, 0.4e-3)), (8, 12)); "
        "s = r.summary()",
    ),
    "wavescope velocity (no surrogates, no patterns)": dict(
        imports="from wavescope import WaveField, measure_velocity\n"
        "from wavescope.datasets import grid_positions",
        job="r = measure_velocity(WaveField(x, {fs}, grid_positions(8, 8, 0.4e-3)), (8, 12), "
        "n_surrogates=0, patterns=False); s = r.summary()",
    ),
}


def run_child(path: str, spec: dict, fs: float) -> dict:
    code = CHILD.format(path=path, imports=spec["imports"], job=spec["job"].format(fs=fs))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import scipy

    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split()[1]
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "mem_total_kb": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--fs", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=2, help="runs per job (best time kept)")
    ap.add_argument("--out", default=str(RESULTS / "velocity_cpu"))
    args = ap.parse_args(argv)
    side = int(round(np.sqrt(args.sites)))
    if side * side != args.sites:
        ap.error("--sites must be a square number (an n x n grid)")

    sys.path.insert(0, str(HERE.parent))
    from wavescope.datasets import grid_positions, planar_wave

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        print(f"generating {args.sites} sites x {args.seconds:g} s x {args.fs:g} Hz (float32)...")
        f = planar_wave(
            grid_positions(side, side, 0.4e-3),
            fs=args.fs,
            duration=args.seconds,
            frequency=10.0,
            speed=0.3,
            direction=np.pi / 6,
            noise_sd=1.0,
            seed=0,
        )
        np.save(path, f.data)
        del f
        rows = {}
        for name, spec in JOBS.items():
            runs = [run_child(path, spec, args.fs) for _ in range(args.repeats)]
            best = min(runs, key=lambda r: r["seconds"])
            best["peak_above_baseline_mb"] = max(r["peak_above_baseline_mb"] for r in runs)
            rows[name] = best
            print(
                f"{name:55s} {best['seconds']:7.2f} s  "
                f"peak +{best['peak_above_baseline_mb']:7.0f} MB"
            )

    floor = rows["floor: rfft + irfft"]["seconds"]
    input_mb = next(iter(rows.values()))["input_mb"]
    for r in rows.values():
        r["time_over_floor"] = r["seconds"] / floor
        r["peak_over_input"] = r["peak_above_baseline_mb"] / input_mb
    result = {
        "job": {
            "sites": args.sites,
            "seconds": args.seconds,
            "fs": args.fs,
            "dtype": "float32",
            "band_hz": [8, 12],
        },
        "machine": machine(),
        "results": rows,
        "reference_wavespace_1.1.9": {
            "seconds": 52.6,
            "peak_gb": 3.8,
            "source": "REFERENCES.md (same job, 2 cores)",
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [
        f"# Velocity pipeline, {args.sites} sites x {args.seconds:g} s x {args.fs:g} Hz",
        "",
        f"Machine: {result['machine']['cpu_count']} cores, {result['machine']['platform']}, "
        f"numpy {np.__version__}",
        "",
        "| job | time (s) | x floor | peak above baseline (MB) | x input |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['time_over_floor']:.2f} | "
            f"{r['peak_above_baseline_mb']:.0f} | {r['peak_over_input']:.2f} |"
        )
    lines += [
        "",
        f"Input: {input_mb:.0f} MB. wavespace 1.1.9 on the same job (REFERENCES.md): "
        "52.6 s, 3.8 GB peak.",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
