"""Streaming: ``wavescope velocity`` on a recording far larger than one chunk, bounded memory.

    python benchmarks/bench_streaming.py [--sites 256] [--hours 2] [--fs 1000]
        [--chunk-samples 131072 262144 524288] [--tmpdir DIR] [--threads 1]

Generates a 16 x 16 grid (0.4 mm pitch) x 2 h x 1 kHz float32 recording (about 7.4 GB) on
disk, a 10 Hz plane wave at 0.3 m/s, direction 30 deg, in white noise of the wave's
amplitude, written piece by piece into a .npy (never held in memory) and then stored
uncompressed as ``data.npy`` of an interchange .npz. Then, for each chunk size, runs
``wavescope velocity big.npz --chunk-samples N --json ...`` in a fresh subprocess (band
found by ``auto_band``; the .npz is memory-mapped, read one chunk at a time), measuring its
wall time and its peak resident memory (VmHWM, the process's own high-water mark, which
counts mapped file pages too) next to the size of one chunk and of the file, and checks
the measured speed and direction against the truth. The temporary directory is deleted
afterwards. Writes benchmarks/results/streaming.json and .md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SPEED, DIRECTION, FREQ, PITCH = 0.3, np.pi / 6, 10.0, 0.4e-3

# The child runs the command line in-process so that it can read its own VmHWM at the end.
CHILD = textwrap.dedent(
    """
    import json, resource, sys, time

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith(key)) / 1024

    from wavescope.cli.main import main
    import wavescope.waves.velocity, tqdm  # the imports the command needs, in the baseline
    base = status("VmRSS:")
    t0 = time.perf_counter()
    rc = main(sys.argv[2:])
    dt = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "seconds": dt, "cpu_seconds": cpu.ru_utime + cpu.ru_stime,
                   "baseline_mb": base, "peak_mb": status("VmHWM:")}, f)
    """
)


def machine() -> dict:
    import platform

    import scipy

    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1])
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "mem_total_gb": None if mem is None else round(mem / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "load_average": list(os.getloadavg()),
    }


def write_recording(path: Path, n_sites: int, n_times: int, fs: float, piece: int = 2**18):
    """Write the plane wave + noise into ``path`` (.npz, data stored uncompressed)."""
    side = int(round(np.sqrt(n_sites)))
    rows, cols = np.divmod(np.arange(n_sites), side)
    pos = np.column_stack([cols * PITCH, rows * PITCH]).astype(np.float64)
    k = 2 * np.pi * FREQ / SPEED * np.array([np.cos(DIRECTION), np.sin(DIRECTION)])
    kx = (pos @ k).astype(np.float32)  # (n_sites,) radians
    npy = path.with_suffix(".npy")
    # the header (and a sparse file) from open_memmap, then plain positioned writes, so that
    # not even this writer holds the recording in its resident set
    mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=(n_sites, n_times))
    offset = mm.offset
    del mm
    rng = np.random.default_rng(0)
    with open(npy, "r+b") as fh:
        for t0 in range(0, n_times, piece):
            t1 = min(t0 + piece, n_times)
            # temporal phase in float64, reduced mod 2 pi, before the float32 plane
            wt = np.mod(2 * np.pi * FREQ * np.arange(t0, t1) / fs, 2 * np.pi).astype(np.float32)
            block = np.cos(wt[None, :] - kx[:, None])
            block += rng.standard_normal(block.shape, dtype=np.float32)
            for r in range(n_sites):
                os.pwrite(fh.fileno(), block[r].tobytes(), offset + 4 * (r * n_times + t0))

    def npy_bytes(a) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.write(npy, "data.npy")  # streamed copy, zip64 for > 4 GB
        zf.writestr("fs.npy", npy_bytes(np.float64(fs)))
        zf.writestr("positions.npy", npy_bytes(pos))
        zf.writestr("space_unit.npy", npy_bytes(np.str_("m")))
        zf.writestr("time_unit.npy", npy_bytes(np.str_("s")))
    npy.unlink()
    return path


HEADER = (
    "| chunk samples | chunks | chunk MB | wall s | CPU s | peak MB | peak above baseline MB "
    "| above baseline / chunk | peak / file | speed m/s (error) | direction error deg |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def run_velocity(path: Path, chunk: int, threads: int, tmp: Path) -> dict:
    """``wavescope velocity`` in a fresh, pinned subprocess; its stats and summary."""
    out_json, stats = tmp / f"summary-{chunk}.json", tmp / f"stats-{chunk}.json"
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-c", CHILD, str(stats), "velocity", str(path)]
    cmd += ["--chunk-samples", str(chunk), "--json", str(out_json)]
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    print(f"running wavescope velocity --chunk-samples {chunk} (pinned to CPU(s) {cpus}) ...")
    proc = subprocess.Popen(cmd, env=env, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    if proc.wait() != 0:
        raise RuntimeError(f"wavescope velocity failed with exit code {proc.returncode}")
    st = json.loads(stats.read_text())
    st["summary"] = json.loads(out_json.read_text())
    return st


def render(result: dict) -> str:
    """The Markdown report of a result dict (also: --render RESULT.json)."""
    m, rec, runs = result["machine"], result["recording"], result["runs"]
    file_mb, n_times, t_write = rec["file_mb"], rec["n_times"], rec["write_seconds"]
    sites, hours, fs, started = rec["sites"], rec["hours"], rec["fs"], result["started"]
    side, threads = int(round(np.sqrt(sites))), result["threads"]
    per_chunk = [r["peak_above_baseline_over_chunk"] for r in runs]
    per_file = [r["peak_over_file"] for r in runs]
    rows = "\n".join(
        f"| {r['chunk_samples']} | {r['n_chunks']} | {r['chunk_mb']:.0f} | {r['seconds']:.0f} | "
        f"{r['cpu_seconds']:.0f} | {r['peak_mb']:.0f} | {r['peak_above_baseline_mb']:.0f} | "
        f"{r['peak_above_baseline_over_chunk']:.2f} | {r['peak_over_file']:.3f} | "
        f"{r['speed_median']:.4f} ({100 * r['speed_rel_error']:+.2f}%) | "
        f"{r['direction_error_deg']:+.2f} |"
        for r in runs
    )
    md = f"""# Streaming: `wavescope velocity` on a {file_mb / 1024:.1f} GB recording

Machine: {m["cpu_count"]} cores ({m["processor"]}), {m["mem_total_gb"]} GB memory,
{m["platform"]}; Python {m["python"]}, numpy {m["numpy"]}, scipy {m["scipy"]}; started
{started}, load average at the end {", ".join(f"{x:.2f}" for x in m["load_average"])} (the
machine is shared, so wall times are noisy; CPU time is given too).

Recording: {sites} sites ({side}x{side} grid, {PITCH * 1e3:g} mm pitch) x
{hours:g} h x {fs:g} Hz float32 = {n_times} samples per site, {file_mb:.0f} MB
uncompressed .npz; a {FREQ:g} Hz plane wave at {SPEED} m/s, direction
{np.degrees(DIRECTION):.0f} deg, in white noise of the wave's amplitude, written piece by
piece (never held in memory) in {t_write:.0f} s.

Each run: `wavescope velocity big.npz --chunk-samples N --json out.json` in a fresh
subprocess, {threads} thread(s), pinned to one core; band from `auto_band`'s bounded
Welch subset; the .npz is memory-mapped and read one chunk (N samples x {sites} sites,
float32) at a time, its pages released after use. Peak = VmHWM of the process (it counts
mapped file pages too); baseline = its resident memory after imports, before the run.

{HEADER}
{rows}

Truth: {SPEED} m/s, {np.degrees(DIRECTION):.0f} deg. Peak memory follows the chunk size,
not the file's: {min(per_chunk):.1f}-{max(per_chunk):.1f} times one chunk above the
baseline (this includes the per-sample outputs at the read-out rate, which grow with the
record's length but not with its sites), {100 * min(per_file):.0f}-{100 * max(per_file):.0f}%
of the file.

Reproduce: `python benchmarks/bench_streaming.py` (needs about {file_mb / 1024:.0f} GB of
free disk in the temporary directory; `--tmpdir` to choose it).
"""
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=256)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--fs", type=float, default=1000.0)
    ap.add_argument(
        "--chunk-samples",
        type=int,
        nargs="+",
        default=[2**17, 2**18, 2**19],
        help="one run per chunk size (peak memory should follow the chunk, not the file)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tmpdir", default=None, help="where the recording is written (deleted)")
    ap.add_argument("--out", default=str(RESULTS / "streaming"))
    ap.add_argument("--render", metavar="RESULT.json", help="only rewrite the .md from a .json")
    args = ap.parse_args(argv)
    if args.render:
        md = render(json.loads(Path(args.render).read_text()))
        Path(args.out).with_suffix(".md").write_text(md)
        print(md)
        return 0
    side = int(round(np.sqrt(args.sites)))
    if side * side != args.sites:
        ap.error("--sites must be a square number (an n x n grid)")
    n_times = int(round(args.hours * 3600 * args.fs))
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = Path(tempfile.mkdtemp(prefix="wavescope-stream-", dir=args.tmpdir))
    try:
        path = tmp / "big.npz"
        t0 = time.perf_counter()
        print(f"writing {args.sites} sites x {args.hours:g} h x {args.fs:g} Hz to {path} ...")
        write_recording(path, args.sites, n_times, args.fs)
        t_write = time.perf_counter() - t0
        file_mb = path.stat().st_size / 2**20
        print(f"  {file_mb:.0f} MB in {t_write:.0f} s")
        stats = [run_velocity(path, c, args.threads, tmp) for c in args.chunk_samples]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info = machine()  # load average at the end

    runs = []
    for chunk, st in zip(args.chunk_samples, stats):
        s = st.pop("summary")
        chunk_mb = args.sites * chunk * 4 / 2**20
        direction = s["direction"]["mean_rad"]
        above = st["peak_mb"] - st["baseline_mb"]
        runs.append(
            {
                "command": f"wavescope velocity big.npz --chunk-samples {chunk} --json out.json",
                "chunk_samples": chunk,
                "n_chunks": -(-n_times // chunk),
                "chunk_mb": chunk_mb,
                **st,
                "peak_above_baseline_mb": above,
                "peak_above_baseline_over_chunk": above / chunk_mb,
                "peak_over_file": st["peak_mb"] / file_mb,
                "band": s["band"],
                "speed_median": s["speed"]["median"],
                "speed_rel_error": (s["speed"]["median"] - SPEED) / SPEED,
                "direction_mean_rad": direction,
                "direction_error_deg": float(
                    np.degrees(np.angle(np.exp(1j * (direction - DIRECTION))))
                ),
                "pgd_median": s["pgd"]["median"],
                "wave_fraction": s["wave_fraction"],
            }
        )
    result = {
        "machine": info,
        "started": started,
        "threads": args.threads,
        "recording": {
            "sites": args.sites,
            "grid": f"{side}x{side}, pitch {PITCH * 1e3:g} mm",
            "hours": args.hours,
            "fs": args.fs,
            "n_times": n_times,
            "dtype": "float32",
            "file_mb": file_mb,
            "write_seconds": t_write,
            "truth": {"speed_m_s": SPEED, "direction_rad": DIRECTION, "frequency_hz": FREQ},
        },
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    md = render(result)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
