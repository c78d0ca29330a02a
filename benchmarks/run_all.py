"""Run every benchmark and write benchmarks/results/benchmarks.{md,json}.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only velocity|mamba|gpu ...]

- ``velocity``: the velocity pipeline (wavescope's core and default routes) next to
  wavespace 1.1.9 and one rfft + irfft pass, time, peak memory and accuracy, on
  16/64/256 sites x 60/600 s at 1 kHz (``bench_velocity.py``);
- ``mamba``: Mamba forward+backward on CPU next to mambapy 1.2.0 at L = 256, 1024, 4096
  (``bench_mamba_cpu.py``);
- ``memory``: memory curves (wavescope's decoder next to scikit-learn's RidgeClassifierCV on
  the same folds, up to the probe's default size; ``bench_memory.py``);
- ``gpu``: the Triton selective scan next to mambapy's pscan and the bandwidth floor
  (``bench_scan_gpu.py``; recorded as not run without CUDA).

Every figure is also given as a ratio to the peer measured in the same run, each cost's
growth as a log-log slope, and each target as PASS / MISS / NOT RUN. ``--quick`` runs
small sizes in a few minutes to check the code; its numbers are not the reference ones,
so it writes benchmarks_quick.{md,json} instead.
With ``--only``, the other sections are kept from the existing benchmarks.json. A full
run also refreshes the table in docs/benchmarks.md (``--no-update-docs`` to keep it). A
peer that is not installed is skipped with the command that installs it (see
benchmarks/requirements.txt). The full run takes about 8 minutes on 2 quiet cores (well
under 25 on a loaded one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_mamba_cpu  # noqa: E402
import bench_memory  # noqa: E402
import bench_scan_gpu  # noqa: E402
import bench_velocity  # noqa: E402
import benchlib as bl  # noqa: E402
from peers import INSTALL, peer_status  # noqa: E402

SECTIONS = ("velocity", "mamba", "memory", "gpu")
MODULES = {
    "velocity": bench_velocity,
    "mamba": bench_mamba_cpu,
    "memory": bench_memory,
    "gpu": bench_scan_gpu,
}


def log(msg: str) -> None:
    print(msg, flush=True)


def run_section(name: str, quick: bool) -> dict:
    start = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "quick": quick,
    }
    t0 = time.perf_counter()
    if name == "velocity":
        sec = bench_velocity.run(quick=quick, log=log)
    elif name == "mamba":
        sec = bench_mamba_cpu.run(quick=quick, log=log)
    elif name == "memory":
        sec = bench_memory.run(quick=quick, log=log)
    else:  # in a child: a CUDA or Triton failure must not end the whole run
        args = [HERE / "bench_scan_gpu.py", "--json"] + (["--quick"] if quick else [])
        sec = bl.run_child(args, timeout=1800)
        if "error" in sec:
            sec = {"status": f"error: {sec['error']}", "targets": bench_scan_gpu.targets([])}
        log(f"  gpu: {sec.get('status')}")
    sec["run"] = {
        **start,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    return sec


def all_targets(sections: dict) -> list[dict]:
    out = []
    for name in SECTIONS:
        out += sections.get(name, {}).get("targets", [])
    return out


def targets_markdown(targets: list[dict]) -> list[str]:
    rows = [
        [
            t["target"],
            f"{t['op']} {t['threshold']:g}",
            bl.fmt(t["value"], ".3g"),
            t["where"],
            f"**{t['status']}**",
        ]
        for t in targets
    ]
    return bl.md_table(["target", "wanted", "measured", "where", "status"], rows)


def slopes_markdown(sections: dict) -> list[str]:
    parts = []
    for name in SECTIONS:
        sec = sections.get(name)
        if sec and sec.get("slopes"):
            part = MODULES[name].slopes_markdown(sec)
            if part:
                parts += [*part, ""]
    if not parts:
        return []
    return [
        "## Growth: log-log slopes",
        "",
        "Slope of log(cost) against log(size), least squares over the measured points "
        "(`np.polyfit` on the logs): 1 = linear, 2 = quadratic, near 0 = fixed costs "
        "dominate; — where fewer than 2 points were measured.",
        "",
        *parts,
    ]


def busy_load(cores: int) -> float:
    """1-min load average above which a section's timings are flagged as distorted
    (1.5 on 2 cores: other work competes for the cores)."""
    return 0.75 * cores


def to_markdown(res: dict) -> str:
    sections = res["sections"]
    quick = any(s.get("run", {}).get("quick") for s in sections.values())
    lines = [
        "# Benchmarks: wavescope next to the field's tools",
        "",
        "Written by `.venv/bin/python benchmarks/run_all.py` (docs/benchmarks.md explains "
        "each row).",
        "",
    ]
    if quick:
        lines += [
            "**Quick run**: small sizes, a check of the code, not the reference measurement "
            "(fixed costs dominate at these sizes, so the targets are not judged fairly).",
            "",
        ]
    lines += ["## Machine", "", *bl.machine_markdown(res["machine"]), ""]
    busy = busy_load(res["machine"].get("cores") or 2)
    for name in SECTIONS:
        run = sections.get(name, {}).get("run")
        if run:
            load = max(run["load_avg_at_start"][0], run["load_avg_at_end"][0])
            lines.append(
                f"- {name}: measured {run['date_utc']}{' (quick)' if run['quick'] else ''}, "
                f"{run['wall_s']:.0f} s, load average at start "
                + ", ".join(f"{x:.2f}" for x in run["load_avg_at_start"])
                + ", at end "
                + ", ".join(f"{x:.2f}" for x in run["load_avg_at_end"])
                + (
                    f" — **the machine was busy (1-min load {load:.1f} > {busy:.1f}): "
                    "timings distorted, re-run on a quiet machine**"
                    if load > busy and sections[name].get("rows")
                    else ""
                )
            )
    lines += ["", "## Targets", "", *targets_markdown(res["targets"]), ""]
    for name in SECTIONS:
        if name in sections:
            lines += [*MODULES[name].markdown(sections[name]), ""]
    lines += slopes_markdown(sections)
    return "\n".join(lines).rstrip() + "\n"


DOCS = HERE.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def update_docs(md: str, path: Path = DOCS) -> bool:
    """Put the results (``md`` less its title, headings one level down) between the
    ``BEGIN`` and ``END`` markers of ``path``; False when the markers are missing."""
    if not path.exists():
        return False
    text = path.read_text()
    if BEGIN not in text or END not in text:
        return False
    body = md.split("\n", 1)[1].strip()
    body = "\n".join("#" + ln if ln.startswith("## ") else ln for ln in body.splitlines())
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the code quickly")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    ap.add_argument("--out", type=Path, default=bl.RESULTS, help="results folder")
    ap.add_argument(
        "--update-docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="refresh the table in docs/benchmarks.md (default: on for full runs)",
    )
    args = ap.parse_args(argv)
    names = args.only or list(SECTIONS)

    for peer, needed_by in (("wavespace", "velocity"), ("mambapy", "mamba")):
        if needed_by in names:
            st = peer_status(peer)
            if not st["available"]:
                log(f"[peer] {st['reason']}")
                log(f"[peer] to include it: {INSTALL[peer]}")

    stem = "benchmarks_quick" if args.quick else "benchmarks"  # a check never overwrites
    json_path, md_path = args.out / f"{stem}.json", args.out / f"{stem}.md"
    sections = {}
    if args.only and json_path.exists():
        try:
            sections = json.loads(json_path.read_text()).get("sections", {})
        except (json.JSONDecodeError, OSError):
            sections = {}
    machine = bl.machine_info(torch_threads=bench_mamba_cpu.THREADS)
    t0 = time.perf_counter()
    for name in names:
        log(f"[{name}] {'quick' if args.quick else 'full'} run")
        sections[name] = run_section(name, args.quick)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    res = {
        "machine": machine,
        "sections": sections,
        "targets": all_targets(sections),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=2) + "\n")
    md = to_markdown(res)
    md_path.write_text(md)
    if args.update_docs or (args.update_docs is None and not args.quick):
        if update_docs(md):
            log(f"updated the table in {DOCS}")
    log("")
    log("## Targets")
    log("\n".join(targets_markdown(res["targets"])))
    log(f"\nwrote {json_path} and {md_path} ({res['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
