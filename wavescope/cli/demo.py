"""``wavescope demo``: the main job on an embedded default (see wavescope.pipelines.demo)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job: cortex-like waves, two trained SSMs, a comparison report",
        description="The main job, from cortex to a comparison report: a plane wave of known "
        "speed measured next to its truth; simulated cortex; 3 seeds each of v-Wave Mamba and "
        "Mamba trained on the copy task and their hidden states probed (each network one "
        "subject, so the groups are tested against each other); memory curves; an HTML "
        "report with every number in JSON (in --out).",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--overwrite", action="store_true", help="replace files from an earlier run")
    p.add_argument("--seed", type=int, default=0, help="seed of every step (default 0)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny training and short recordings (seconds; the models do not learn)",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="training steps per network (default 800)"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="networks trained per model, each its own seed and subject (default 3: the "
        "tests between groups need 3 subjects per group)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: wavescope.models.threads policy, 1 for these models)",
    )
    p.add_argument(
        "--reference-speeds",
        default=None,
        metavar="PATH",
        help="Davis et al. 2021 speed density for the report: the *speed_density*.mat file "
        "or its folder (default: $WAVESCOPE_DAVIS2021 when set; nothing else is searched)",
    )
    p.add_argument(
        "--cortex",
        nargs="+",
        default=None,
        metavar="PATH",
        help="real recordings as the cortex group, in place of the simulated neural field "
        "(anything 'wavescope velocity' reads; each in its own recommended band, e.g. "
        "widefield 0.1-5 Hz); the memory comparison then has no cortex group",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from wavescope.cli.options import require_torch

    require_torch("demo")
    from wavescope.pipelines.demo import Renderers, run_demo
    from wavescope.report.figures import save_figure, velocity_figure
    from wavescope.report.html import render_comparison
    from wavescope.report.text import format_summary

    render = Renderers(
        velocity_png=lambda result, title: save_figure(velocity_figure(result, title=title)),
        report_html=render_comparison,
        summary_text=format_summary,
    )
    run_demo(
        args.out,
        render=render,
        quick=args.quick,
        seed=args.seed,
        steps=args.steps,
        seeds=args.seeds,
        threads=args.threads,
        overwrite=args.overwrite,
        reference=args.reference_speeds,
        cortex=args.cortex,
    )
    return 0
