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
        "(anything 'wavescope velocity' reads; each in its reader's recommended band, e.g. "
        "widefield 0.1-5 Hz); the memory comparison then has no cortex group",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from wavescope.cli.options import require_torch

    require_torch("demo")
    from wavescope.pipelines.demo import Renderers, run_demo
    from wavescope.report.figures import save_figure, velocity_figure
    from wavescope.report.html import render_comparison

    render = Renderers(
        velocity_png=lambda result, title: save_figure(velocity_figure(result, title=title)),
        report_html=render_comparison,
    )
    result = run_demo(
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
        on_event=_show,
    )
    _show_done(result)
    return 0


def _show(event) -> None:
    """Print one of the demo's events as it comes (each step's start and results)."""
    from wavescope.pipelines import demo_results as demo

    for kind, show in (
        (demo.StepStarted, _show_step),
        (demo.PlaneWaveCheck, _show_plane_wave),
        (demo.CortexStep, _show_cortex),
        (demo.TrainingPlan, _show_training_plan),
        (demo.TrainedNetwork, _show_trained),
        (demo.ProbedNetwork, _show_probed),
        (demo.CortexMemory, _show_cortex_memory),
        (demo.NetworkMemory, _show_network_memory),
        (demo.ComparisonStarted, _show_reference),
    ):
        if isinstance(event, kind):
            show(event)
            return


def _show_step(e) -> None:
    from wavescope.pipelines.demo import N_STEPS

    print(f"\n[{e.index}/{N_STEPS}] {e.title}", flush=True)
    if e.index == 1:
        print(
            "generating a synthetic recording: 100 sites x 20 s x 1 kHz, plane wave 10 Hz, "
            "0.3 m/s towards 30 deg, SNR 0 dB; measuring in 8-12 Hz (phase gradient)"
        )


def _show_plane_wave(e) -> None:
    from wavescope.report.text import format_summary

    print(format_summary(e.recording.summary))
    speed = "n/a" if e.speed_error_pct is None else f"{e.speed_error_pct:+.2f}%"
    angle = "n/a" if e.direction_error_deg is None else f"{e.direction_error_deg:+.2f} deg"
    print(f"truth        0.3 m/s towards 30.0 deg: speed error {speed}, direction error {angle}")


def _show_cortex(e) -> None:
    s = e.first.summary
    sp = "n/a (no wave epoch)" if e.first_waves_speed is None else f"{e.first_waves_speed:.3f} m/s"
    if e.recorded:
        print("\n".join(f"  {p}" for p in e.paths))
        print(
            f"recording 0 ({e.duration:g} s): wave fraction {_num(s.wave_fraction)}, PGD median "
            f"{_num(s.pgd_median)}, speed in wave epochs {sp}; the memory comparison has no "
            "cortex group (a recording has no known input to decode)"
        )
        return
    print(
        f"simulated {len(e.paths)} recordings: 100 sites (10 x 10 grid, 1 mm) x {e.duration:g} s "
        "x 500 Hz, bursts of 7-13 Hz travelling at 0.3 m/s from random sources, pink noise"
    )
    print(
        f"recording 0: {e.n_bursts} bursts; wave fraction {_num(s.wave_fraction)}, PGD median "
        f"{_num(s.pgd_median)}, speed in wave epochs {sp} (truth 0.300 m/s), direction "
        f"concentration {_num(s.direction_concentration)} (directions vary)"
    )
    print(f"wrote {len(e.paths)} recordings to {e.paths[0].parent}")


def _num(x, fmt=".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _show_training_plan(e) -> None:
    from wavescope.pipelines.demo import MODELS

    how = (
        f"{e.processes} processes, one run at a time each"
        if e.processes > 1
        else ("one after the other")
    )
    print(
        f"training {' and '.join(MODELS)}, seeds {', '.join(map(str, e.seeds))} ({e.n_runs} "
        f"runs, {how}): copy task, strings of 5-20 letters, {e.steps} steps of {e.batch} "
        f"rows, AdamW lr {e.lr:g}",
        flush=True,
    )


def _show_trained(e) -> None:
    print(
        f"{e.network.label}: {e.n_params:,} parameters, done after {e.seconds:.0f} s; "
        f"held-out exact strings {e.exact_acc:.3f} (length 5-20), {e.exact_acc_20:.3f} "
        f"(length 20); character accuracy {e.char_acc:.3f}, loss {e.loss:.3f}",
        flush=True,
    )


def _show_probed(e) -> None:
    stem = e.paths[0].name.split("_ch")[0]
    print(
        f"{e.network.label}: layer 0 '{e.part}' states, {len(e.channels)} channels x "
        f"{e.length} steps (impulse at step 4), subject '{e.subject}' -> "
        f"{e.paths[0].parent}/{stem}_ch*.npz"
    )


def _show_cortex_memory(e) -> None:
    from wavescope.pipelines.demo import MEMORY_GRID, MEMORY_SPEED

    c = e.curves[0]
    weak = (
        f"; significance alone holds {c.horizon_significance_only}, the effect floor drops "
        "the lags too weak to count"
        if c.horizon < c.horizon_significance_only
        else ""
    )
    print(
        f"driven cortex ({MEMORY_GRID[0]} x {MEMORY_GRID[1]} grid, 0.4 mm, 1 kHz, "
        f"{MEMORY_SPEED} m/s, {len(e.curves)} recordings of {e.duration:g} s): horizon "
        f"{c.horizon} samples = {c.horizon * c.dt * 1e3:.0f} ms (the input reaches the array "
        f"for {e.truth_horizon} samples, transit time + 1{weak}), capacity {c.capacity:.1f} "
        "samples"
    )


def _show_network_memory(e) -> None:
    c = e.memory.curve
    bound = "+" if c.meta.get("horizon_censored") else ""
    print(
        f"{e.network.label}: layer 0 '{c.meta['part']}' state ({c.meta['n_features']} "
        f"features): horizon {c.horizon}{bound} steps, capacity {c.capacity:.1f} steps "
        f"(letters decoded from {e.n_sequences} held-out-by-fold sequences)"
    )


def _show_reference(e) -> None:
    if e.reference is None:
        print(f"(no Davis et al. 2021 reference speeds: {e.reference_from}; the report goes "
              "without)")  # fmt: skip
    else:
        print(
            f"reference: marmoset MT wave speeds, Davis et al. 2021 ({e.reference.source}, "
            f"{e.reference_from})"
        )


def _show_done(result) -> None:
    t = result.timings
    print(
        "timings: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in t.items() if k != "total")
        + f"; total {t['total']:.0f} s"
    )
    f = result.files
    for path in (f.json, f.png, f.cortex_png, f.runs, f.states, f.memory, f.report_json):
        print(f"wrote {path}")
    print(f"report: {f.report.resolve()}")
