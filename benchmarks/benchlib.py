"""Shared helpers of the benchmarks: machine description, peak memory, child processes,
log-log slopes, ratios, targets and Markdown tables.

Nothing here imports wavescope, torch or a peer: ``run_all.py`` and the tests import it
cheaply. Peak memory of a job is measured in a fresh child process: the child resets its
own high-water mark (``echo 5 > /proc/self/clear_refs``) after its imports, reads its
resident set size as the baseline, loads the input and runs; the peak is ``VmHWM``
(the process's own peak resident set) minus that baseline, so it includes the input.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MB = 2**20

#: Environment variables that set thread counts, recorded with the machine.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


# ----------------------------------------------------------------------------- memory


def rss_mb() -> float:
    """Current resident set size of this process, MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def hwm_mb() -> float:
    """Peak resident set size of this process (``VmHWM``), MiB."""
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")) / 1024


def reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def mem_available_mb() -> float | None:
    """``MemAvailable`` of the machine now, MiB (None off Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemAvailable"):
                    return int(ln.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMeter:
    """Peak memory of the code between :meth:`start` and :meth:`stop`, MiB above the start.

    ``start`` resets the high-water mark (where the kernel allows; otherwise the peak
    since the process started counts, which can only overstate).
    """

    def start(self) -> None:
        self.reset = reset_peak()
        self.base = rss_mb()

    def stop(self) -> dict:
        peak = hwm_mb()
        return {
            "peak_mb": max(peak - self.base, 0.0),
            "baseline_mb": self.base,
            "hwm_reset": self.reset,
        }


# ----------------------------------------------------------------------------- machine


def pkg_version(name: str) -> str | None:
    """Installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(torch_threads: int | None = None) -> dict:
    """Machine and versions, as recorded with every result (JSON-ready)."""
    mem_total = None
    try:
        with open("/proc/meminfo") as f:
            mem_total = int(f.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    avail = mem_available_mb()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "mem_total_gb": None if mem_total is None else round(mem_total, 1),
        "mem_available_gb_at_start": None if avail is None else round(avail / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: pkg_version(name)
            for name in ("numpy", "scipy", "torch", "triton", "wavescope", "wavespace", "mambapy")
        },
        "threads": {
            "torch_set_num_threads": torch_threads,
            "blas": _blas_threads(),
            "scipy_fft_workers": "-1 (all usable cores) in wavescope and the floor",
            **{v: os.environ.get(v) for v in THREAD_VARS},
        },
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _blas_threads() -> str | None:
    """Thread pools of numpy/scipy's BLAS (threadpoolctl, where installed)."""
    try:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = {f"{d['internal_api']} {d['num_threads']}" for d in threadpool_info()}
    return ", ".join(sorted(pools)) or None


def machine_markdown(m: dict) -> list[str]:
    v = m["versions"]
    th = m["threads"]
    env = ", ".join(f"{k}={th.get(k)}" for k in THREAD_VARS if th.get(k)) or "none set"
    return [
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable); "
        f"memory {m['mem_total_gb']} GB ({m['mem_available_gb_at_start']} GB available at "
        "start)",
        f"- OS: {m['os']}; Python {m['python']}",
        "- versions: " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in v),
        f"- threads: torch.set_num_threads({th.get('torch_set_num_threads')}) for Mamba; "
        f"scipy.fft workers {th['scipy_fft_workers']}; BLAS threads {th.get('blas')}; "
        f"thread variables: {env}",
        f"- date {m['date_utc']}; load average (1, 5, 15 min) at start "
        + ", ".join(f"{x:.2f}" for x in m["load_avg_at_start"])
        + (
            ", at end " + ", ".join(f"{x:.2f}" for x in m["load_avg_at_end"])
            if m.get("load_avg_at_end")
            else ""
        ),
    ]


# ----------------------------------------------------------------------------- children


def run_child(args: list, timeout: float, env: dict | None = None) -> dict:
    """Run ``python *args`` and return the JSON object on its last stdout line.

    Never raises for the child's failure: returns ``{"error": reason}`` instead (a
    non-zero exit with the tail of stderr, a timeout, or output that is not JSON).
    """
    cmd = [sys.executable, *map(str, args)]
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE)]))
    full_env.update(env or {})
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {out.returncode}: " + " | ".join(tail)}
    for line in reversed(out.stdout.strip().splitlines()):
        try:
            res = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(res, (dict, list)):
            return res
    return {"error": "no JSON result on stdout"}


# ----------------------------------------------------------------------------- numbers


def _pos(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def ratio(num, den) -> float | None:
    """``num / den``, or None when either is missing, non-finite or not positive."""
    return num / den if _pos(num) and _pos(den) else None


def loglog_slope(x, y) -> float | None:
    """Slope of ``log y`` against ``log x`` by least squares (``np.polyfit``, degree 1).

    Points whose x or y is missing or not positive are dropped; None when fewer than two
    distinct x remain. A cost proportional to x has slope 1, one growing as x**2 slope 2.
    """
    pts = [(float(a), float(b)) for a, b in zip(x, y) if _pos(a) and _pos(b)]
    if len({a for a, _ in pts}) < 2:
        return None
    lx, ly = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def extrapolate(points, x_new) -> float | None:
    """Estimate y at ``x_new`` from measured ``(x, y)`` points.

    Two or more points: the log-log line through them (:func:`loglog_slope`), anchored at
    the largest measured x; one point: proportional scaling (slope 1).
    """
    pts = [(float(a), float(b)) for a, b in points if _pos(a) and _pos(b)]
    if not pts:
        return None
    slope = loglog_slope([a for a, _ in pts], [b for _, b in pts])
    x0, y0 = max(pts)
    return y0 * (x_new / x0) ** (1.0 if slope is None else slope)


def fmt(x, spec: str = ".2f", none: str = "—") -> str:
    """Format a number, or ``none`` for a missing one."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return none
    return format(x, spec)


def fmt_ratio(x) -> str:
    return fmt(x, ".2f") + ("x" if x is not None else "")


# ----------------------------------------------------------------------------- targets


def check_target(name: str, value, op: str, threshold: float, where: str = "") -> dict:
    """One target: PASS when ``value op threshold`` holds, MISS when not, NOT RUN when
    ``value`` is None. ``op`` is ``">="`` or ``"<="``."""
    if op not in (">=", "<="):
        raise ValueError(f"op must be '>=' or '<=', got {op!r}")
    if value is None:
        status = "NOT RUN"
    else:
        ok = value >= threshold if op == ">=" else value <= threshold
        status = "PASS" if ok else "MISS"
    return {
        "target": name,
        "op": op,
        "threshold": threshold,
        "value": value,
        "status": status,
        "where": where,
    }


def worst(values: dict, op: str):
    """The key and value that come closest to failing ``op``: the minimum for ``">="``,
    the maximum for ``"<="``. ``values`` maps a label to a number or None (ignored)."""
    have = {k: v for k, v in values.items() if v is not None}
    if not have:
        return None, None
    key = (min if op == ">=" else max)(have, key=have.get)
    return key, have[key]


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table (list of lines)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out
