"""The main job (``wavescope demo``) on an embedded default, from cortex to a comparison report.

Seven steps, one command, a few minutes on 2 CPU cores (``--quick``: seconds): (1) measure
a synthetic plane wave of known speed (10 Hz, 0.3 m/s towards 30 degrees, 10 x 10 grid of
0.4 mm, SNR 0 dB) and print the summary next to the truth; (2) simulate cortical
recordings with intermittent travelling waves from a neural field (conduction speed
0.3 m/s) and measure them; (3) train 3 seeds each of Mamba and v-Wave Mamba briefly on
the copy task; (4) probe every trained network's hidden states with an impulse input;
(5) measure memory curves (how many steps back the input can be decoded) of a cortical
sheet driven by a known input at 0.3 m/s and of each network's wave-carrying state;
(6) compare cortex, v-Wave Mamba and Mamba waves and memory in dimensionless terms (with
the Davis et al. 2021 marmoset speeds when the data are present) in an HTML report with
JSON; (7) say where everything is.

The job is composed from the pipelines (:func:`~wavescope.pipelines.recording.measure_recording`,
:func:`~wavescope.pipelines.probe.probe_model`, :func:`~wavescope.pipelines.memory.model_memory`,
:func:`~wavescope.pipelines.compare.run_comparison`) and returns a :class:`DemoResult`;
it prints nothing. While it runs it hands each step's start (:class:`StepStarted`) and
typed result to ``on_event``, which the command line renders (:mod:`wavescope.cli.demo`).

Each trained network is one subject of its model's group (its checkpoint's identity,
written into every capture and memory curve by the probe): with 3 seeds per model the
comparison runs its tests between groups (it needs 3 subjects per group), and the
channels of one network enter the mixed model as repeated measures of that subject.

Outputs in ``--out``: ``recording.npz``, ``summary.json``, ``velocity.png`` (step 1);
``cortex/neural_field_*.npz``, ``cortex_velocity.png`` (step 2);
``runs/<model>/seed<s>/`` (metrics.jsonl, checkpoint.pt, run.json, final_eval.json;
step 3); ``states/<model>_seed<s>_ch*.npz`` (step 4); ``memory/cortex_<i>.json``,
``memory/<model>_seed<s>.json`` (step 5); ``report.html``, ``report.json`` (step 6).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileExistsError
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError
from wavescope.pipelines.demo_results import (
    ComparisonStarted,
    CortexMemory,
    CortexStep,
    DemoResult,
    Network,
    NetworkMemory,
    PlaneWaveCheck,
    ProbedNetwork,
    StepStarted,
    TrainedNetwork,
    TrainingPlan,
)
from wavescope.pipelines.outputs import save
from wavescope.pipelines.recording import VelocityOptions, measure_recording

MODELS = ("vwave-mamba", "mamba")
N_STEPS = 7
MEMORY_SPEED = 0.3  # m/s: the driven cortex of the memory step
MEMORY_GRID = (8, 8)  # sites, 0.4 mm pitch (Utah-like), 1 kHz
CORTEX_BAND = (5.0, 15.0)  # Hz: the neural field's bursts are 7-13 Hz
STATE_BAND = (0.1, 0.3)  # cycles/step: an impulse travelling along the state
#: (full, quick) settings of each step
SETTINGS = {
    "full": dict(
        n_cortex=6,
        cortex_s=20.0,
        seeds=3,
        steps=800,
        batch=16,
        lr=2e-2,
        train_processes=2,
        eval_examples=64,
        log_every=25,
        n_channels=8,
        length=128,
        mem_fields=4,
        mem_s=8.0,
        mem_sequences=60,
        mem_length=64,
        mem_lag=32,
    ),
    "quick": dict(
        n_cortex=3,
        cortex_s=6.0,
        seeds=3,
        steps=12,
        batch=4,
        lr=2e-2,
        train_processes=1,
        eval_examples=8,
        log_every=4,
        n_channels=3,
        length=64,
        mem_fields=3,  # 3 subjects: the memory comparison tests cortex against the models
        mem_s=2.0,
        mem_sequences=20,
        mem_length=40,
        mem_lag=16,
    ),
}


@dataclass
class Renderers:
    """What the demo draws with (the report layer's functions, passed in by the CLI:
    pipelines sit below the report layer and never import it).

    Attributes
    ----------
    velocity_png : callable
        ``(VelocityResult, title) -> PNG bytes``.
    report_html : callable
        ``(ComparisonResult) -> HTML text``.
    """

    velocity_png: Callable
    report_html: Callable


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo writes, inside ``out``."""

    out: Path

    npz = property(lambda self: self.out / "recording.npz")
    json = property(lambda self: self.out / "summary.json")
    png = property(lambda self: self.out / "velocity.png")
    cortex = property(lambda self: self.out / "cortex")
    cortex_png = property(lambda self: self.out / "cortex_velocity.png")
    runs = property(lambda self: self.out / "runs")
    states = property(lambda self: self.out / "states")
    report = property(lambda self: self.out / "report.html")
    report_json = property(lambda self: self.out / "report.json")
    memory = property(lambda self: self.out / "memory")

    def written(self) -> list[Path]:
        """Files and run folders of an earlier demo here (only the names it writes)."""
        found = [self.npz, self.json, self.png, self.cortex_png, self.report, self.report_json]
        found += sorted(self.cortex.glob("neural_field_*.npz"))
        found += [self.runs / name for name in MODELS]
        found += sorted(self.states.glob("*_ch*.npz"))
        found += sorted(self.memory.glob("*.json"))
        return [f for f in found if f.exists()]

    def to_json(self) -> dict:
        names = ("npz", "json", "png", "cortex", "cortex_png", "runs", "states", "memory")
        return {k: str(getattr(self, k)) for k in names + ("report", "report_json")}


def _clear(paths: list[Path]) -> None:
    """Remove an earlier demo's outputs; nothing else in ``--out`` is touched."""
    for f in paths:
        if f.is_dir():
            shutil.rmtree(f)
        else:
            f.unlink()


Event = Callable[[Result], None]


def _ignore(event: Result) -> None:
    return None


# ---------------------------------------------------------------------- steps
def _plane_wave_step(files: DemoFiles, seed: int, render: Renderers) -> PlaneWaveCheck:
    """Step 1: a plane wave of known speed and direction, measured as the CLI does."""
    from wavescope.datasets import grid_positions, planar_wave

    truth_speed, truth_dir = 0.3, np.deg2rad(30.0)
    field_ = planar_wave(
        grid_positions(10, 10, 0.4e-3),
        fs=1000.0,
        duration=20.0,
        frequency=10.0,
        speed=truth_speed,
        direction=truth_dir,
        snr_db=0.0,
        seed=seed,
    )
    save(files.npz, field_)
    rec = measure_recording(field_, VelocityOptions(band=(8.0, 12.0)))
    rec.summary.input = str(files.npz)
    s = rec.summary
    doc = s.to_json()
    doc["truth"] = {
        "speed": truth_speed,
        "direction_rad": float(truth_dir),
        "wavelength": truth_speed / 10.0,
        "unit": "m/s",
    }
    doc["input"] = str(files.npz)
    save(files.json, doc)
    save(
        files.png, render.velocity_png(rec.result, "demo: synthetic plane wave, 0.3 m/s at 30 deg")
    )
    err_speed = None if s.speed_median is None else 100 * (s.speed_median / truth_speed - 1)
    err_dir = None
    if s.direction_mean is not None:
        err_dir = float(np.degrees(np.angle(np.exp(1j * (s.direction_mean - truth_dir)))))
    return PlaneWaveCheck(rec, truth_speed, float(truth_dir), err_speed, err_dir)


def _cortex_step(files: DemoFiles, cfg: dict, seed: int, render: Renderers) -> CortexStep:
    """Step 2: neural-field recordings (intermittent waves at 0.3 m/s), written as .npz;
    recording 0 measured."""
    from wavescope.datasets import neural_field

    files.cortex.mkdir(parents=True, exist_ok=True)
    paths, first, n_bursts = [], None, 0
    for i in range(cfg["n_cortex"]):
        field_ = neural_field(speed=0.3, duration=cfg["cortex_s"], seed=seed * 1000 + i)
        paths.append(save(files.cortex / f"neural_field_{i}.npz", field_))
        if i == 0:
            first = measure_recording(field_, VelocityOptions(band=CORTEX_BAND))
            n_bursts = int(field_.meta["truth"]["n_events"])
            title = "demo: neural field, bursts at 0.3 m/s (recording 0)"
            save(files.cortex_png, render.velocity_png(first.result, title))
    waves = first.result.summarise("waves").speed_median
    return CortexStep(paths, first, waves, n_bursts, cfg["cortex_s"])


def _recorded_cortex_step(paths: list[Path]) -> CortexStep:
    """Step 2 with ``--cortex``: the given recordings; recording 0 measured as
    ``wavescope velocity`` measures it (its own band)."""
    first = measure_recording(paths[0], VelocityOptions())
    waves = first.result.summarise("waves").speed_median
    return CortexStep(list(paths), first, waves, None, first.result.duration, recorded=True)


def _real_provenance(paths: list[Path]):
    """The cortex group given with ``--cortex``: recordings read from these files."""
    from wavescope.pipelines.compare import Provenance

    return Provenance.recorded(", ".join(str(p) for p in paths))


def training_seeds(seed: int, n_seeds: int) -> list[int]:
    """The training seeds of ``--seed`` (``seed * 1000 + k``, as the cortex recordings')."""
    return [seed * 1000 + k for k in range(n_seeds)]


def _networks(files: DemoFiles, seed: int, n_seeds: int) -> list[Network]:
    """Every (model, seed), seeds interleaved so that two processes share the work evenly."""
    return [
        Network(name, s, files.runs / name / f"seed{s}")
        for s in training_seeds(seed, n_seeds)
        for name in MODELS
    ]


def _trained(net: Network, r: dict, seconds: float) -> TrainedNetwork:
    held = r["final_eval"]["heldout"]
    row = next(x for x in r["final_eval"]["lengths"] if x["length"] == 20)
    return TrainedNetwork(
        net, int(r["n_params"]), seconds, held["exact_acc"], row["exact_acc"],
        held["char_acc"], held["loss"], Path(r["out_dir"]),
    )  # fmt: skip


def _train_step(cfg: dict, nets: list[Network], steps, threads, on_event: Event):
    """Step 3: train each network on copy (length 20) from scratch; returns a
    :class:`TrainedNetwork` per network, in the order of ``nets``.

    The runs go to ``cfg["train_processes"]`` processes (one torch thread each), each
    process taking the next run as it finishes one; same steps, batch and learning rate
    for every run, the seed alone differs between the runs of one model.
    """
    from wavescope.models.train_pool import train_in_parallel
    from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams

    steps = steps if steps is not None else cfg["steps"]
    if steps < 1:
        raise WaveInputError(f"--steps must be at least 1, got {steps}.")
    runs = [
        dict(
            model=net.model,
            hparams=TrainHParams(steps=steps, batch_size=cfg["batch"], lr=cfg["lr"], seed=net.seed),
            out_dir=net.out_dir,
            task=TaskSpec(length=20),
            evaluation=EvalSpec(lengths=[20], examples=cfg["eval_examples"], modes=("teacher",)),
            log=LogSpec(every=min(cfg["log_every"], steps), progress=i == 0),
            device="cpu",
            threads=threads,
        )
        for i, net in enumerate(nets)
    ]
    procs = min(cfg["train_processes"], len(runs))
    seeds = sorted({net.seed for net in nets})
    on_event(TrainingPlan(seeds, len(runs), procs, steps, cfg["batch"], cfg["lr"]))
    t0 = time.perf_counter()
    done: dict[int, TrainedNetwork] = {}

    def report(i: int, r: dict) -> None:
        done[i] = _trained(nets[i], r, time.perf_counter() - t0)
        on_event(done[i])

    # first_here=False: with more runs than processes, a run kept in this process would
    # leave its core idle once done while the other process works through the rest
    summaries = train_in_parallel(runs, processes=procs, first_here=False, on_done=report)
    return [done.get(i) or _trained(net, r, 0.0) for i, (net, r) in enumerate(zip(nets, summaries))]


def _probe_step(files: DemoFiles, cfg: dict, loaded_models: dict, on_event: Event):
    """Step 4: impulse responses of layer 0 of each network, a few channels each, as .npz
    (:func:`~wavescope.pipelines.probe.probe_model`)."""
    from wavescope.models.probe import probe_parts
    from wavescope.pipelines.probe import ProbeInput, probe_model

    files.states.mkdir(parents=True, exist_ok=True)
    impulse = ProbeInput(length=cfg["length"], impulse_token=4, pad_token=0, position=4)
    out = []
    for net in loaded_models:
        loaded = loaded_models[net]
        n_total = _n_channels(loaded.target)
        chans = [int(c) for c in np.linspace(0, n_total - 1, cfg["n_channels"]).round()]
        stem, states = f"{net.model}_seed{net.seed}", files.states
        paths = [
            probe_model(
                loaded, 0, impulse, channel=c, out=states / f"{stem}_ch{c}.npz", overwrite=True
            ).out
            for c in chans
        ]  # every channel of one trained network: one subject (its checkpoint's identity)
        part = probe_parts(loaded.target, 0)[0]
        step = ProbedNetwork(net, part, chans, cfg["length"], loaded.identity["subject"], paths)
        on_event(step)
        out.append(step)
    return out


def _cortex_memory(files: DemoFiles, cfg: dict, seed: int) -> CortexMemory:
    """Step 5, cortex: memory curves of driven cortical sheets (input known)."""
    from wavescope.datasets import driven_input, driven_wave
    from wavescope.waves.memory import memory_curve_field

    curves, paths, truth = [], [], 0
    for i in range(cfg["mem_fields"]):
        u = driven_input(int(cfg["mem_s"] * 1000), seed=seed * 1000 + i)
        field_ = driven_wave(
            u,
            speed=MEMORY_SPEED * 1e3,
            fs=1000.0,
            grid=MEMORY_GRID,
            pitch=0.4,
            direction=float(np.arctan2(1, 8)),  # oblique: every site its own delay
            attenuation_length=3.0,
            noise_sd=0.5,
            seed=seed * 1000 + i,
        )
        curve = memory_curve_field(field_, field_.data[-1], cfg["mem_lag"])
        paths.append(save(files.memory / f"cortex_{i}.json", curve.summary(), indent=1))
        curves.append(curve)
        if i == 0:
            truth = int(field_.meta["truth"]["horizon"])
    return CortexMemory(curves, paths, truth, cfg["mem_s"])


def _memory_step(
    files: DemoFiles,
    cfg: dict,
    seed: int,
    loaded_models: dict,
    on_event: Event,
    recorded: bool = False,
):
    """Step 5: memory curves of a driven cortical sheet and of each network's wave state
    (one curve per trained network, carrying its checkpoint's identity as its subject;
    :func:`~wavescope.pipelines.memory.model_memory`)."""
    from wavescope.pipelines.memory import model_memory

    files.memory.mkdir(parents=True, exist_ok=True)
    # a recording has no known input to decode: with --cortex the groups are the models
    cortex = None if recorded else _cortex_memory(files, cfg, seed)
    if cortex is not None:
        on_event(cortex)
    nets_memory = []
    for net, loaded in loaded_models.items():
        m = model_memory(
            loaded, 0, n_sequences=cfg["mem_sequences"],
            length=cfg["mem_length"], max_lag=cfg["mem_lag"], seed=seed,
            json=files.memory / f"{net.model}_seed{net.seed}.json",
        )  # fmt: skip
        nets_memory.append(NetworkMemory(net, m, cfg["mem_sequences"]))
        on_event(nets_memory[-1])
    return cortex, nets_memory


def memory_paths(cortex: CortexMemory | None, nets: list[NetworkMemory]) -> dict[str, list[Path]]:
    """The memory curves' JSON files by group (cortex, when simulated, then each model)."""
    out: dict[str, list[Path]] = {} if cortex is None else {"cortex": list(cortex.paths)}
    for n in nets:
        out.setdefault(n.network.model, []).append(n.memory.json)
    return out


def _cortex_provenance(seed: int):
    """The demo's cortex group: independent neural-field simulations, not recordings."""
    from wavescope.pipelines.compare import Provenance

    return Provenance.simulated(
        "wavescope.datasets.neural_field (waves; wavescope.pipelines.demo step 2) and "
        "wavescope.datasets.driven_wave (memory curves; step 5)",
        {
            "speed": 0.3,
            "unit": "m/s",
            "bursts": "7-13 Hz from random sources, pink noise",
            "grid": "10 x 10 sites, 1 mm",
            "memory_speed": MEMORY_SPEED,
            "seeds": f"{seed * 1000} + recording index",
        },
    )


def _n_channels(target) -> int:
    """Channels of layer 0's probed state."""
    from wavescope.models.probe import hidden_states, impulse_tokens

    return int(hidden_states(target, impulse_tokens(2), 0).shape[2])


def _compare_step(files, cortex, probes, trained, memory, reference, seed, render):
    """Step 6: cortex against both models, written as the HTML report and its JSON."""
    from wavescope.pipelines.compare import run_comparison, write_comparison

    result = run_comparison(
        {
            "cortex": cortex.paths,
            **{n: [p for s in probes if s.network.model == n for p in s.paths] for n in MODELS},
        },
        # recorded cortex: each file in its reader's recommended band (None)
        band={"cortex": None if cortex.recorded else CORTEX_BAND}
        | {name: STATE_BAND for name in MODELS},
        # one estimator on both sides of the comparison: a broad band on the models'
        # impulse responses would otherwise send them to k-omega (routes.choose_method)
        method="phase-gradient",
        metrics={n: [t.out_dir for t in trained if t.network.model == n] for n in MODELS},
        reference=reference,
        memory=memory,
        subjects=None  # recorded: subjects from the files (one file without one: one)
        if cortex.recorded
        else {
            "cortex": [f"simulation {i} (seed {seed * 1000 + i})" for i in range(len(cortex.paths))]
        },
        provenance={
            "cortex": _real_provenance(cortex.paths)
            if cortex.recorded
            else _cortex_provenance(seed)
        },
        progress=True,
    )
    result.report, result.json = str(files.report), str(files.report_json)
    write_comparison(
        result, render.report_html(result), files.report, files.report_json, overwrite=True
    )
    return result


def _check_settings(quick, seeds, threads):
    """The step settings, the seeds per model and the torch threads, checked."""
    if threads is None:  # 1 for these small models: 2 collapse when a core is busy
        from wavescope.models.threads import default_threads

        threads = default_threads()
    if threads < 1:
        raise WaveInputError(f"--threads must be at least 1, got {threads}.")
    cfg = SETTINGS["quick" if quick else "full"]
    n_seeds = cfg["seeds"] if seeds is None else seeds
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise WaveInputError(f"--seeds must be an integer >= 1, got {seeds!r}.")
    return cfg, n_seeds, threads


def _prepare_out(out, overwrite: bool) -> DemoFiles:
    """The output folder, an earlier demo's files there removed (only with ``overwrite``)."""
    files = DemoFiles(Path(out))
    existing = files.written()
    if existing and not overwrite:
        shown = ", ".join(str(f) for f in existing[:4]) + (", ..." if len(existing) > 4 else "")
        raise WaveFileExistsError(f"{shown} exist; pass --overwrite or another --out.")
    files.out.mkdir(parents=True, exist_ok=True)
    _clear(existing)
    return files


def run_demo(
    out: str | Path = "demo_out",
    *,
    render: Renderers,
    quick: bool = False,
    seed: int = 0,
    steps: int | None = None,
    seeds: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    reference: str | Path | None = None,
    cortex: list[str | Path] | None = None,
    on_event: Event | None = None,
) -> DemoResult:
    """Run the main job; return what each step made and the timings of each step (s).

    Parameters
    ----------
    out : path
        Output folder; an earlier demo's files there are replaced only with ``overwrite``
        (nothing else in the folder is touched).
    render : Renderers
        The figure and report functions (from the report layer).
    quick : bool
        Tiny training and short recordings (seconds; the models do not learn).
    seed : int
        Seed of every step.
    steps : int, optional
        Training steps per network (default 800; ``quick``: 12).
    seeds : int, optional
        Networks trained per model, each its own training seed (``seed * 1000 + k``), run
        folder, checkpoint and subject of the comparison (default 3: the comparison's
        tests need 3 subjects per group; 1 or 2 give estimates without tests).
    threads : int, optional
        torch threads.
    reference : path, optional
        The Davis et al. 2021 speed density (the ``*speed_density*.mat`` file or the
        folder holding it). Default: the environment variable ``WAVESCOPE_DAVIS2021``
        when set; nothing else is searched, and without either the report goes without
        the reference. Read before any work, so that a wrong path fails at once.
    cortex : list of paths, optional
        Real recordings as the cortex group, in place of step 2's simulations (anything
        ``wavescope velocity`` reads; each measured in its reader's recommended band, e.g.
        0.1-5 Hz for widefield frames, or the band found from its spectrum). Subjects
        come from the files (a file without a subject is one subject); the memory
        comparison then has no cortex group (a recording has no known input to decode).
    on_event : callable, optional
        Called with each :class:`StepStarted` and each step's typed result as it comes
        (the command line prints them); nothing is printed here.

    Returns
    -------
    DemoResult
    """
    import torch

    from wavescope.datasets.davis2021 import read_davis2021_speeds, reference_speeds_path
    from wavescope.pipelines.probe import load_target

    emit = on_event or _ignore
    cfg, n_seeds, threads = _check_settings(quick, seeds, threads)
    torch.set_num_threads(threads)
    reference, ref_from = reference_speeds_path(reference)
    if reference is not None:
        reference = read_davis2021_speeds(reference)  # fails here, not after training
    real = [Path(c) for c in cortex or []]
    missing = [str(c) for c in real if not c.exists()]
    if missing:  # fails here, not after training
        raise WaveInputError(f"--cortex: {missing} not found; give existing recordings.")
    files = _prepare_out(out, overwrite)
    nets = _networks(files, seed, n_seeds)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def step(i: int, key: str, title: str, run, plan: str | None = None):
        emit(StepStarted(i, title, plan))
        t = time.perf_counter()
        value = run()
        timings[key] = time.perf_counter() - t
        return value

    plane = step(1, "plane_wave", STEP_TITLES[1], lambda: _plane_wave_step(files, seed, render))
    emit(plane)
    if real:
        title2 = f"the cortex group: {len(real)} recording(s) given with --cortex"
        cortex = step(2, "cortex", title2, lambda: _recorded_cortex_step(real))
    else:
        cortex = step(2, "cortex", STEP_TITLES[2], lambda: _cortex_step(files, cfg, seed, render))
    emit(cortex)
    title3 = STEP_TITLES[3].format(n=n_seeds)
    trained = step(3, "training", title3, lambda: _train_step(cfg, nets, steps, threads, emit))
    loaded = {}  # each trained network loaded once, for steps 4 and 5

    def probe():
        loaded.update({n: load_target(n.out_dir / "checkpoint.pt", threads=False) for n in nets})
        return _probe_step(files, cfg, loaded, emit)

    probes = step(4, "probe", STEP_TITLES[4], probe)
    cortex_mem, nets_mem = step(
        5,
        "memory",
        STEP_TITLES[5],
        lambda: _memory_step(files, cfg, seed, loaded, emit, bool(real)),
    )

    def compare():
        emit(ComparisonStarted(reference, ref_from))
        memory = memory_paths(cortex_mem, nets_mem)
        return _compare_step(files, cortex, probes, trained, memory, reference, seed, render)

    comparison = step(6, "compare", STEP_TITLES[6], compare)
    timings["total"] = time.perf_counter() - t_all
    result = DemoResult(
        files, plane, cortex, trained, probes, cortex_mem, nets_mem, comparison, timings
    )
    emit(StepStarted(7, STEP_TITLES[7]))
    return result


STEP_TITLES = {
    1: "the velocity of a known plane wave (as 'wavescope velocity' measures it)",
    2: "a synthetic cortical recording: a neural field with travelling waves",
    3: "short CPU training of {n} v-Wave Mamba and {n} Mamba on the copy task",
    4: "probing the trained models' hidden states (impulse input)",
    5: "memory curves: how far back the input can be read from each state",
    6: "comparing cortex, v-Wave Mamba and Mamba waves and memory",
    7: "done",
}
