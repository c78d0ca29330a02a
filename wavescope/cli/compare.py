"""``wavescope compare GROUP=INPUT ... --report OUT.html``: compare groups of recordings."""

from __future__ import annotations

from wavescope.core.validate import WaveInputError


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare traveling waves between groups and write an HTML report",
        description="Measure every input, compare the groups (permutation tests, bootstrap "
        "intervals, effect sizes, FDR) and write a self-contained HTML report and a JSON file. "
        "Inputs are files 'wavescope velocity' reads or 'wavescope probe' writes; repeat "
        "GROUP=INPUT for several inputs per group, or use a glob (GROUP='runs/*.npz').",
    )
    p.add_argument("inputs", nargs="+", metavar="GROUP=INPUT", help="group name and input file")
    p.add_argument("--report", required=True, metavar="OUT.html", help="output HTML report")
    p.add_argument(
        "--json",
        default=None,
        metavar="OUT.json",
        help="output JSON (default: the report with suffix .json)",
    )
    p.add_argument(
        "--band",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="pass band for every group (cycles per time unit)",
    )
    p.add_argument(
        "--group-band",
        nargs=3,
        action="append",
        default=[],
        metavar=("GROUP", "LO", "HI"),
        help="pass band of one group",
    )
    p.add_argument("--method", default="phase-gradient", help="velocity method")
    p.add_argument(
        "--metrics",
        nargs="+",
        action="extend",
        default=[],
        metavar="GROUP=metrics.jsonl",
        help="training metrics (metrics.jsonl or run folder) for learning curves; give it "
        "after the inputs, or repeat it",
    )
    p.add_argument(
        "--memory",
        nargs="+",
        action="extend",
        default=[],
        metavar="GROUP=curve.json",
        help="memory curves (JSON of 'wavescope memory --json' or 'wavescope probe "
        "--memory-curve --json') for the memory-curve section; give it after the inputs, or "
        "repeat it",
    )
    p.add_argument(
        "--reference-speeds",
        default=None,
        metavar="FILE",
        help="reference speed density (.mat with speed_range, k), e.g. Davis 2021",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _pairs(items, what) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in items:
        g, sep, v = s.partition("=")
        if not sep or not g or not v:
            raise WaveInputError(f"{what} {s!r} is not GROUP=PATH (e.g. cortex=rec1.npz).")
        out.setdefault(g, []).append(v)
    return out


def run(args) -> int:
    from wavescope.report.compare import format_comparison, run_comparison

    groups = _pairs(args.inputs, "input")
    metrics = _pairs(args.metrics, "--metrics") or None
    memory = _pairs(args.memory, "--memory") or None
    band = tuple(args.band) if args.band else None
    if args.group_band:
        if band is not None:
            raise WaveInputError("give either --band or --group-band, not both.")
        try:
            band = {g: (float(lo), float(hi)) for g, lo, hi in args.group_band}
        except ValueError:
            raise WaveInputError("--group-band takes GROUP LO HI with numbers LO, HI.") from None
    result = run_comparison(
        groups,
        report=args.report,
        json_path=args.json,
        band=band,
        method=args.method,
        metrics=metrics,
        memory=memory,
        reference_speeds=args.reference_speeds,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(format_comparison(result))
    print(f"wrote {result['report']}")
    print(f"wrote {result['json']}")
    return 0
