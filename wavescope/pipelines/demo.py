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
JSON; (7) print where everything is.

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
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import write_bytes_atomic, write_json

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
    summary_text : callable
        ``(summary dict) -> text`` for the terminal.
    """

    velocity_png: Callable
    report_html: Callable
    summary_text: Callable


def _outputs(out: Path) -> dict:
    return {
        "npz": out / "recording.npz",
        "json": out / "summary.json",
        "png": out / "velocity.png",
        "cortex": out / "cortex",
        "cortex_png": out / "cortex_velocity.png",
        "runs": out / "runs",
        "states": out / "states",
        "report": out / "report.html",
        "report_json": out / "report.json",
        "memory": out / "memory",
    }


def _written(files: dict) -> list[Path]:
    """Files and run folders of an earlier demo in ``--out`` (only the names it writes)."""
    found = [files[k] for k in ("npz", "json", "png", "cortex_png", "report", "report_json")]
    found += sorted(files["cortex"].glob("neural_field_*.npz"))
    found += [files["runs"] / name for name in MODELS]
    found += sorted(files["states"].glob("*_ch*.npz"))
    found += sorted(files["memory"].glob("*.json"))
    return [f for f in found if f.exists()]


def _clear(paths: list[Path]) -> None:
    """Remove an earlier demo's outputs; nothing else in ``--out`` is touched."""
    for f in paths:
        if f.is_dir():
            shutil.rmtree(f)
        else:
            f.unlink()


def _step(i: int, text: str) -> float:
    print(f"\n[{i}/{N_STEPS}] {text}", flush=True)
    return time.perf_counter()


def _plane_wave_step(files: dict, seed: int, render: Renderers) -> None:
    """Step 1: a plane wave of known speed and direction, measured as the CLI does."""
    from wavescope.datasets import grid_positions, planar_wave
    from wavescope.io import write_npz
    from wavescope.waves.velocity import measure_velocity

    truth_speed, truth_dir = 0.3, np.deg2rad(30.0)
    print(
        "generating a synthetic recording: 100 sites x 20 s x 1 kHz, plane wave 10 Hz, "
        "0.3 m/s towards 30 deg, SNR 0 dB; measuring in 8-12 Hz (phase gradient)"
    )
    field = planar_wave(
        grid_positions(10, 10, 0.4e-3),
        fs=1000.0,
        duration=20.0,
        frequency=10.0,
        speed=truth_speed,
        direction=truth_dir,
        snr_db=0.0,
        seed=seed,
    )
    write_npz(files["npz"], field, overwrite=True)
    result = measure_velocity(field, (8.0, 12.0))
    summary = result.summary()
    summary["truth"] = {
        "speed": truth_speed,
        "direction_rad": float(truth_dir),
        "wavelength": truth_speed / 10.0,
        "unit": "m/s",
    }
    summary["input"] = str(files["npz"])
    print(render.summary_text(result.summarise()))
    err_speed = 100 * (summary["speed"]["median"] / truth_speed - 1)
    err_dir = np.degrees(np.angle(np.exp(1j * (summary["direction"]["mean_rad"] - truth_dir))))
    print(
        f"truth        0.3 m/s towards 30.0 deg: speed error {err_speed:+.2f}%, "
        f"direction error {err_dir:+.2f} deg"
    )
    write_json(files["json"], summary)
    write_bytes_atomic(
        files["png"], render.velocity_png(result, "demo: synthetic plane wave, 0.3 m/s at 30 deg")
    )


def _cortex_step(files: dict, cfg: dict, seed: int, render: Renderers) -> list[Path]:
    """Step 2: neural-field recordings (intermittent waves at 0.3 m/s), written as .npz."""
    from wavescope.datasets import neural_field
    from wavescope.io import write_npz
    from wavescope.waves.velocity import measure_velocity

    n, dur = cfg["n_cortex"], cfg["cortex_s"]
    print(
        f"simulating {n} recordings: 100 sites (10 x 10 grid, 1 mm) x {dur:g} s x 500 Hz, "
        "bursts of 7-13 Hz travelling at 0.3 m/s from random sources, pink noise"
    )
    files["cortex"].mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        field = neural_field(speed=0.3, duration=dur, seed=seed * 1000 + i)
        path = files["cortex"] / f"neural_field_{i}.npz"
        write_npz(path, field, overwrite=True)
        paths.append(path)
        if i == 0:
            result = measure_velocity(field, CORTEX_BAND)
            s, w = result.summary(), result.summary("waves")
            sp = w["speed"]["median"]
            sp_txt = "n/a (no wave epoch)" if sp is None else f"{sp:.3f} m/s"
            print(
                f"recording 0: {field.meta['truth']['n_events']} bursts; wave fraction "
                f"{s['wave_fraction']:.2f}, PGD median {s['pgd']['median']:.2f}, speed in "
                f"wave epochs {sp_txt} (truth 0.300 m/s), direction concentration "
                f"{s['direction']['concentration']:.2f} (directions vary)"
            )
            write_bytes_atomic(
                files["cortex_png"],
                render.velocity_png(result, "demo: neural field, bursts at 0.3 m/s (recording 0)"),
            )
    print(f"wrote {n} recordings to {files['cortex']}")
    return paths


@dataclass(frozen=True)
class Network:
    """One trained network of the demo: a model and its training seed (one subject)."""

    model: str
    seed: int
    out_dir: Path

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed}"


def training_seeds(seed: int, n_seeds: int) -> list[int]:
    """The training seeds of ``--seed`` (``seed * 1000 + k``, as the cortex recordings')."""
    return [seed * 1000 + k for k in range(n_seeds)]


def _networks(files: dict, seed: int, n_seeds: int) -> list[Network]:
    """Every (model, seed), seeds interleaved so that two processes share the work evenly."""
    return [
        Network(name, s, files["runs"] / name / f"seed{s}")
        for s in training_seeds(seed, n_seeds)
        for name in MODELS
    ]


def _train_step(files: dict, cfg: dict, nets: list[Network], steps, threads) -> dict:
    """Step 3: train each network on copy (length 20) from scratch; returns train() results
    by network.

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
    how = f"{procs} processes, one run at a time each" if procs > 1 else "one after the other"
    seeds = sorted({net.seed for net in nets})
    print(
        f"training {' and '.join(MODELS)}, seeds {', '.join(map(str, seeds))} ({len(runs)} "
        f"runs, {how}): copy task, strings of 5-20 letters, {steps} steps of {cfg['batch']} "
        f"rows, AdamW lr {cfg['lr']:g}",
        flush=True,
    )
    t0 = time.perf_counter()

    def report(i: int, r: dict) -> None:
        held = r["final_eval"]["heldout"]
        row = next(x for x in r["final_eval"]["lengths"] if x["length"] == 20)
        print(
            f"{nets[i].label}: {r['n_params']:,} parameters, done after "
            f"{time.perf_counter() - t0:.0f} s; held-out exact strings {held['exact_acc']:.3f} "
            f"(length 5-20), {row['exact_acc']:.3f} (length 20); character accuracy "
            f"{held['char_acc']:.3f}, loss {held['loss']:.3f}",
            flush=True,
        )

    # first_here=False: with more runs than processes, a run kept in this process would
    # leave its core idle once done while the other process works through the rest
    summaries = train_in_parallel(runs, processes=procs, first_here=False, on_done=report)
    return dict(zip(nets, summaries, strict=True))


def _probe_step(files: dict, cfg: dict, nets: list[Network]) -> dict[str, list[Path]]:
    """Step 4: impulse responses of layer 0 of each network, a few channels each, as .npz."""
    import torch

    from wavescope.io import write_npz
    from wavescope.models.probe import (
        DEFAULT_PART,
        checkpoint_identity,
        impulse_response,
        load_model,
    )

    files["states"].mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {name: [] for name in MODELS}
    for net in nets:
        ckpt_path = net.out_dir / "checkpoint.pt"
        model, ckpt = load_model(ckpt_path)
        identity = checkpoint_identity(ckpt_path, ckpt)
        n_total = _n_channels(model)
        chans = np.linspace(0, n_total - 1, cfg["n_channels"]).round().astype(int)
        stem = f"{net.model}_seed{net.seed}"
        with torch.no_grad():
            for c in chans:
                f = impulse_response(model, 0, cfg["length"], position=4, token=4, channel=int(c))
                f.meta.update(identity)  # every channel of one trained network: one subject
                p = files["states"] / f"{stem}_ch{int(c)}.npz"
                write_npz(p, f, overwrite=True)
                out[net.model].append(p)
        print(
            f"{net.label}: layer 0 '{DEFAULT_PART[net.model]}' states, {len(chans)} channels x "
            f"{cfg['length']} steps (impulse at step 4), subject '{identity['subject']}' -> "
            f"{files['states']}/{stem}_ch*.npz"
        )
    return out


def _memory_step(files: dict, cfg: dict, seed: int, nets: list[Network]) -> dict[str, list[Path]]:
    """Step 5: memory curves of a driven cortical sheet and of each network's wave state
    (one curve per trained network, carrying its checkpoint's identity as its subject)."""
    from wavescope.datasets import driven_input, driven_wave
    from wavescope.models.memory_probe import model_memory_curve
    from wavescope.models.probe import DEFAULT_PART, checkpoint_identity, load_model
    from wavescope.waves.memory import memory_curve_field

    files["memory"].mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {"cortex": []}

    def write(group, stem, curve):
        path = files["memory"] / f"{stem}.json"
        write_json(path, curve.summary(), indent=1)
        out.setdefault(group, []).append(path)
        return curve

    n, dur = cfg["mem_fields"], cfg["mem_s"]
    for i in range(n):
        u = driven_input(int(dur * 1000), seed=seed * 1000 + i)
        field = driven_wave(
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
        c = write(
            "cortex", f"cortex_{i}", memory_curve_field(field, field.data[-1], cfg["mem_lag"])
        )
        if i == 0:
            truth = field.meta["truth"]["horizon"]
            print(
                f"driven cortex ({MEMORY_GRID[0]} x {MEMORY_GRID[1]} grid, 0.4 mm, 1 kHz, "
                f"{MEMORY_SPEED} m/s, {n} recordings of {dur:g} s): horizon {c.horizon} samples "
                f"= {c.horizon * c.dt * 1e3:.0f} ms (the input reaches the array for "
                f"{truth} samples, transit time + 1"
                + (
                    f"; significance alone holds {c.horizon_significance_only}, the effect "
                    "floor drops the lags too weak to count"
                    if c.horizon < c.horizon_significance_only
                    else ""
                )
                + "), "
                f"capacity {c.capacity:.1f} samples"
            )
    for net in nets:
        ckpt_path = net.out_dir / "checkpoint.pt"
        model, ckpt = load_model(ckpt_path)
        c = model_memory_curve(
            model,
            0,
            n_sequences=cfg["mem_sequences"],
            length=cfg["mem_length"],
            max_lag=cfg["mem_lag"],
            seed=seed,
        )
        c.meta.update(checkpoint_identity(ckpt_path, ckpt))
        write(net.model, f"{net.model}_seed{net.seed}", c)
        bound = "+" if c.meta.get("horizon_censored") else ""
        print(
            f"{net.label}: layer 0 '{DEFAULT_PART[net.model]}' state "
            f"({c.meta['n_features']} features): "
            f"horizon {c.horizon}{bound} steps, capacity {c.capacity:.1f} steps "
            f"(letters decoded from {cfg['mem_sequences']} held-out-by-fold sequences)"
        )
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


def _real_provenance(paths: list[Path]):
    """The cortex group given with ``--cortex``: recordings read from these files."""
    from wavescope.pipelines.compare import Provenance

    return Provenance.recorded(", ".join(str(p) for p in paths))


def _n_channels(model) -> int:
    """Channels of layer 0's probed state."""
    from wavescope.models.probe import hidden_states, impulse_tokens

    return int(hidden_states(model, impulse_tokens(2), 0).shape[2])


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
) -> dict:
    """Run the main job; return the paths written and the timings of each step (s).

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
        ``wavescope velocity`` reads; each measured in its own recommended band, e.g.
        0.1-5 Hz for widefield frames, or the band found from its spectrum). Subjects
        come from the files (one file without a subject is one subject); the memory
        comparison then has no cortex group (a recording has no known input to decode).
    """
    import torch

    from wavescope.datasets.davis2021 import reference_speeds_path
    from wavescope.pipelines.compare import run_comparison, write_comparison

    if threads is None:  # 1 for these small models: 2 collapse when a core is busy
        from wavescope.models.threads import default_threads

        threads = default_threads()
    if threads < 1:
        raise WaveInputError(f"--threads must be at least 1, got {threads}.")
    torch.set_num_threads(threads)
    cfg = SETTINGS["quick" if quick else "full"]
    n_seeds = cfg["seeds"] if seeds is None else seeds
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise WaveInputError(f"--seeds must be an integer >= 1, got {seeds!r}.")
    reference, ref_from = reference_speeds_path(reference)
    if reference is not None:
        from wavescope.datasets.davis2021 import read_davis2021_speeds

        reference = read_davis2021_speeds(reference)  # fails here, not after training
    real = [Path(c) for c in cortex or []]
    if any(not c.exists() for c in real):
        raise WaveInputError(f"--cortex: {[str(c) for c in real if not c.exists()]} not found.")
    out = Path(out)
    files = _outputs(out)
    existing = _written(files)
    if existing and not overwrite:
        shown = ", ".join(str(f) for f in existing[:4]) + (", ..." if len(existing) > 4 else "")
        raise WaveFileExistsError(f"{shown} exist; pass --overwrite or another --out.")
    out.mkdir(parents=True, exist_ok=True)
    _clear(existing)
    nets = _networks(files, seed, n_seeds)
    timings = {}
    t_all = time.perf_counter()

    t = _step(1, "the velocity of a known plane wave (as 'wavescope velocity' measures it)")
    _plane_wave_step(files, seed, render)
    timings["plane_wave"] = time.perf_counter() - t

    if real:
        t = _step(2, f"the cortex group: {len(real)} recording(s) given with --cortex")
        print("\n".join(f"  {c}" for c in real))
        cortex = real
    else:
        t = _step(2, "a synthetic cortical recording: a neural field with travelling waves")
        cortex = _cortex_step(files, cfg, seed, render)
    timings["cortex"] = time.perf_counter() - t

    t = _step(
        3, f"short CPU training of {n_seeds} v-Wave Mamba and {n_seeds} Mamba on the copy task"
    )
    trained = _train_step(files, cfg, nets, steps, threads)
    timings["training"] = time.perf_counter() - t

    t = _step(4, "probing the trained models' hidden states (impulse input)")
    states = _probe_step(files, cfg, nets)
    timings["probe"] = time.perf_counter() - t

    t = _step(5, "memory curves: how far back the input can be read from each state")
    # with real cortex no simulated sheet stands in for it: the memory groups are the models
    memory = _memory_step(files, dict(cfg, mem_fields=0) if real else cfg, seed, nets)
    if real:
        memory.pop("cortex")
    timings["memory"] = time.perf_counter() - t

    t = _step(6, "comparing cortex, v-Wave Mamba and Mamba waves and memory")
    if reference is None:
        print(f"(no Davis et al. 2021 reference speeds: {ref_from}; the report goes without)")
    else:
        print(
            f"reference: marmoset MT wave speeds, Davis et al. 2021 ({reference.source}, "
            f"{ref_from})"
        )
    result = run_comparison(
        {"cortex": cortex, **{name: states[name] for name in MODELS}},
        band={"cortex": None if real else CORTEX_BAND, **{name: STATE_BAND for name in MODELS}},
        metrics={
            name: [trained[net]["out_dir"] for net in nets if net.model == name] for name in MODELS
        },
        reference=reference,
        memory=memory,
        subjects=None
        if real
        else {"cortex": [f"simulation {i} (seed {seed * 1000 + i})" for i in range(len(cortex))]},
        provenance={
            "cortex": _real_provenance(real) if real else _cortex_provenance(seed),
        },
        progress=True,
    )
    result.report, result.json = str(files["report"]), str(files["report_json"])
    write_comparison(
        result, render.report_html(result), files["report"], files["report_json"], overwrite=True
    )
    timings["compare"] = time.perf_counter() - t

    _step(7, "done")
    timings["total"] = time.perf_counter() - t_all
    print(
        "timings: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total")
        + f"; total {timings['total']:.0f} s"
    )
    for key in ("json", "png", "cortex_png", "runs", "states", "memory", "report_json"):
        print(f"wrote {files[key]}")
    print(f"report: {files['report'].resolve()}")
    return {"files": files, "timings": timings}
