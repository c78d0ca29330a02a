"""Claim check: how do the waves in SSM hidden states compare with cortical waves?

Muller, Churchland & Sejnowski 2024 and Keller 2024 liken the waves in SSM states to
cortical travelling waves. This script puts them side by side, through the public API, in
the dimensionless terms that make sites/step and m/s comparable (PGD, wave fraction,
direction concentration, wavelength / extent, speed in sites per cycle), with permutation
tests, bootstrap intervals, effect sizes and FDR
(:func:`wavescope.pipelines.compare.run_comparison`):

- models: impulse responses of layer 0 of copy-trained ``vwave-mamba``, ``mamba`` and
  ``shift-ssm`` (8 channels per checkpoint, one subject per training seed). Checkpoints of
  ``analyses/copy_learning.py`` (``runs/copy_learning/<model>_s*/``) are reused when
  present; otherwise each model is trained briefly here (``runs/cortex_vs_models/``);
  v-Wave Mamba's and the shift-SSM's states are also measured with the broadband
  event-time fit, whose speed is checked against each channel's learned velocity (and
  1 site/step for the shift-SSM);
- cortex, real: the LENS widefield recording (mouse, ketamine; the pipeline of
  ``analyses/widefield_waves.py``: :func:`wavescope.io.read_widefield`, cortex mask, dF/F,
  2 x 2 binning, detrend), cut into four 10 s segments, 0.5-5 Hz;
- cortex, simulated: six recordings of :func:`wavescope.datasets.neural_field` (bursts at
  0.3 m/s, 5-15 Hz);
- the published marmoset MT speed distribution (Davis et al. 2021, Nat Commun 12:6057,
  figure 6; read from ``../shared/data/davis2021_speeds``, never copied here) as the
  reference for the groups in m/s, and its wavelengths against the neural field's.

Outputs: ``analyses/results/cortex_vs_models.html`` (the report) and
``cortex_vs_models.json`` (every number of the report, plus ``analysis``: the checks).

    .venv/bin/python analyses/cortex_vs_models.py [--train-steps 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from wavescope.core.field import WaveField
from wavescope.datasets import (
    DAVIS2021_CITATION,
    neural_field,
    read_davis2021_speeds,
    read_davis2021_wavelengths,
)
from wavescope.io import WidefieldOptions, read_widefield
from wavescope.models.probe import hidden_states, impulse_response, impulse_tokens, load_model
from wavescope.models.training import EvalSpec, TaskSpec, TrainHParams, train
from wavescope.pipelines.compare import run_comparison, write_comparison
from wavescope.report.html import render_comparison
from wavescope.waves import event_time_velocity, measure_velocity

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "analyses" / "results"
MODELS = ("vwave-mamba", "mamba", "shift-ssm")
STATE_BAND = (0.1, 0.3)  # cycles/step
NF_BAND = (5.0, 15.0)  # Hz
WF_BAND = (0.5, 5.0)  # Hz; 10 s segments do not resolve 0.1 Hz
N_CHANNELS = 8


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-steps", type=int, default=300, help="steps if no checkpoint exists")
    p.add_argument("--copy-runs", default=str(ROOT / "runs" / "copy_learning"))
    p.add_argument("--runs", default=str(ROOT / "runs" / "cortex_vs_models"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--results", default=str(OUT))
    return p.parse_args(argv)


def checkpoints(args, model: str) -> list[Path]:
    """Copy-learning checkpoints of ``model``, or one trained briefly here."""
    found = sorted(Path(args.copy_runs).glob(f"{model}_s*/checkpoint.pt"))
    if found:
        return found
    run = Path(args.runs) / f"{model}_s0"
    if not (run / "checkpoint.pt").exists() or not (run / "final_eval.json").exists():
        print(f"no copy_learning checkpoint of {model}: training {args.train_steps} steps")
        train(
            model,
            TrainHParams(steps=args.train_steps, seed=0),
            out_dir=run,
            task=TaskSpec(length=20),
            evaluation=EvalSpec(lengths=[20], examples=32, modes=("teacher",)),
            resume=run.exists(),
            threads=args.threads,
        )
    return [run / "checkpoint.pt"]


def model_states(path: Path) -> list[WaveField]:
    """Impulse responses of N_CHANNELS channels of layer 0, each a WaveField (sites x steps)."""
    model, _ = load_model(path)
    with torch.no_grad():
        n_ch = int(hidden_states(model, impulse_tokens(2), 0).shape[2])
        chans = np.linspace(0, n_ch - 1, min(N_CHANNELS, n_ch)).round().astype(int)
        return [impulse_response(model, 0, 128, position=4, token=4, channel=int(c)) for c in chans]


def widefield_segments(path: Path, seconds: float = 10.0) -> list[WaveField]:
    """The preprocessed widefield recording cut into consecutive segments."""
    field = read_widefield(path, WidefieldOptions(bin_factor=2, band=None))
    n = int(round(seconds * field.fs))
    return [field.with_data(field.data[:, i : i + n]) for i in range(0, field.n_times - n + 1, n)]


def velocity_check(fields: list[WaveField], velocity: float | None = None) -> dict:
    """Event-time speed of each channel against its velocity (sites/step).

    ``velocity``: the known velocity of every channel (shift-SSM: 1); default: each
    channel's learned velocity ``meta["velocity"]`` (v-Wave).
    """
    rows = []
    for f in fields:
        v = velocity if velocity is not None else f.meta.get("velocity")
        try:
            r = event_time_velocity(f)
            speed = float(r.speed)
        except Exception as exc:  # report, not hide, a channel the measure cannot read
            rows.append({"channel": f.meta.get("channel"), "velocity": v, "error": str(exc)})
            continue
        rows.append({"channel": f.meta.get("channel"), "velocity": v, "event_time_speed": speed})
    ok = [r for r in rows if "event_time_speed" in r and r["velocity"]]
    rel = [abs(r["event_time_speed"] / r["velocity"] - 1) for r in ok]
    return {
        "channels": rows,
        "median_relative_error": float(np.median(rel)) if rel else None,
        "max_relative_error": float(np.max(rel)) if rel else None,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    groups, subjects, band = {}, {}, {}

    for model in MODELS:
        fields, subj = [], []
        for ck in checkpoints(args, model):
            fs = model_states(ck)
            fields += fs
            subj += [ck.parent.name] * len(fs)
        groups[model], subjects[model], band[model] = fields, subj, STATE_BAND
        print(f"{model}: {len(fields)} channel captures from {len(set(subj))} checkpoint(s)")

    vcheck = velocity_check(groups["vwave-mamba"])
    scheck = velocity_check(groups["shift-ssm"], velocity=1.0)
    for name, c in (("v-Wave Mamba (learned v)", vcheck), ("shift-SSM (v = 1)", scheck)):
        print(
            f"{name}: event-time speed, median relative error {c['median_relative_error']}, "
            f"max {c['max_relative_error']}"
        )

    nf = [neural_field(speed=0.3, duration=20.0, seed=i) for i in range(6)]
    groups["neural-field"], subjects["neural-field"], band["neural-field"] = (
        nf,
        [f"nf{i}" for i in range(6)],
        NF_BAND,
    )
    nf_measured = [measure_velocity(f, NF_BAND).summary("waves") for f in nf]

    wf_path = ROOT.parent / "shared" / "data" / "lens_widefield_ketamine" / "frames.npz"
    if wf_path.exists():
        segs = widefield_segments(wf_path)
        groups["widefield"], subjects["widefield"], band["widefield"] = (
            segs,
            ["mouse-ketamine"] * len(segs),
            WF_BAND,
        )
        print(f"widefield: {len(segs)} segments of 10 s")
    else:
        print(f"widefield recording absent ({wf_path}): group left out")

    ref = ROOT.parent / "shared" / "data" / "davis2021_speeds"
    ref_file = next(iter(sorted(ref.glob("*speed_density*.mat"))), None) if ref.is_dir() else None
    davis = None
    if ref_file is not None:
        dens = read_davis2021_speeds(ref_file)
        ell = read_davis2021_wavelengths(ref)
        davis = {
            "citation": DAVIS2021_CITATION,
            "speed": dens.summary(),
            "wavelength_m": {
                "median": float(np.median(ell)),
                "q25": float(np.quantile(ell, 0.25)),
                "q75": float(np.quantile(ell, 0.75)),
                "n": int(ell.size),
            },
        }
        nf_speeds = np.array([s["speed"]["median"] for s in nf_measured], float)
        nf_wl = np.array([s["wavelength"]["median"] for s in nf_measured], float)
        cdf_at = np.interp(nf_speeds, dens.speed, dens.cdf())
        davis["neural_field_speed_percentile_in_davis"] = cdf_at.round(3).tolist()
        davis["neural_field_wavelength_over_davis_median"] = (
            (nf_wl / np.median(ell)).round(2).tolist()
        )

    report = results / "cortex_vs_models.html"
    json_path = results / "cortex_vs_models.json"
    res = run_comparison(
        groups,
        band=band,
        method="phase-gradient",
        subjects=subjects,
        reference=ref_file,
        progress=True,
    )
    res.report, res.json = str(report), str(json_path)
    write_comparison(res, render_comparison(res), report, json_path, overwrite=True)
    out = res.to_json()
    out["analysis"] = {
        "script": "analyses/cortex_vs_models.py",
        "claims": [
            "v-Wave Mamba states travel at the learned per-channel velocity (event-time fit)",
            "shift-SSM states travel at 1 site/step after copy training (event-time fit)",
            "model waves and cortical waves compared on dimensionless properties",
            "the neural field's speeds against the Davis et al. 2021 marmoset MT distribution",
        ],
        "checkpoints": {m: sorted(set(subjects[m])) for m in MODELS},
        "vwave_mamba_velocity_check": vcheck,
        "shift_ssm_velocity_check": scheck,
        "note": "the phase route's speed of a pulse that leaves a short register (shift-SSM) "
        "or of states without waves (Mamba) summarises samples without a wave; the "
        "event-time checks above are the speeds of the model waves; the widefield slow "
        "waves (ketamine, 0.1-5 Hz) are a different phenomenon from the MT waves of Davis "
        "et al. 2021, so their distance from that reference is expected",
        "neural_field": {
            "truth_speed_m_per_s": 0.3,
            "speed_in_wave_epochs": [s["speed"]["median"] for s in nf_measured],
            "wave_fraction": [s["wave_fraction"] for s in nf_measured],
        },
        "davis2021": davis,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    json_path.write_text(json.dumps(out, indent=2, default=float))
    print(f"wrote {report}\nwrote {json_path} ({out['analysis']['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
