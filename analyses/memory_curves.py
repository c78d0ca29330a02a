"""Claim check: a traveling wave holds the recent input history; its velocity sets how far.

Memory curves (issue 6): from a layer's state at step t, cross-validated decoders recover
the input letter presented tau steps earlier; the memory horizon is the number of lags
decoded above chance (:mod:`wavescope.waves.memory`, through
:func:`wavescope.models.memory_probe.model_memory_curve`). Through the public API:

(a) an untrained shift-SSM with N sites holds exactly the last N inputs (horizon = N);
(b) untrained v-Wave layers at set velocities v (decay fixed) hold more steps as v falls,
    horizon ~ N / v: the script plots horizon against 1 / v next to the wave velocity
    measured on the same layer's impulse response (event-time and cross-correlation
    fits, as ``vwave_velocity.py`` does) and reports where the relation holds and where
    it fails (v > 1 is low-passed in space, the decay forgets, the ring wraps around);
(c) mamba, vwave-mamba, transformer-rope and transformer-alibi trained on the copy task
    (cpu scale, one seed, a fixed step budget) get memory curves per layer: for the SSMs
    the wave-carrying state and the residual stream, for the transformers the residual
    stream, on the same axes, with horizons and capacities in a table.

Outputs: ``analyses/results/memory_curves.{json,md,png}`` and one
``MemoryCurve.summary()`` JSON per trained model in ``analyses/results/memory_curves/``
(for ``wavescope compare ... --memory G=file.json``). Checkpoints go to
``analyses/runs/memory_curves/`` (not in git); rerunning resumes or skips them.

    nohup .venv/bin/python analyses/memory_curves.py > analyses/results/memory_curves.log 2>&1 &
    .venv/bin/python analyses/memory_curves.py --stage train    # only the training part
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "analyses" / "results"
RUNS = ROOT / "analyses" / "runs" / "memory_curves"
TRAINED = ("vwave-mamba", "transformer-alibi", "transformer-rope", "mamba")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--stage",
        choices=("all", "train", "probe", "report"),
        default="all",
        help="report: rebuild the .md and .png from the JSON",
    )
    p.add_argument("--steps", type=int, default=1500, help="training steps per model")
    p.add_argument("--length", type=int, default=20, help="copy length of training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-sequences", type=int, default=200, help="(c), residual stream")
    p.add_argument(
        "--n-sequences-state",
        type=int,
        default=60,
        help="(c), SSM states (thousands of features: the decoder's SVD sets the run time)",
    )
    p.add_argument("--seq-length", type=int, default=96)
    p.add_argument("--max-lag", type=int, default=48)
    p.add_argument("--runs", default=str(RUNS))
    p.add_argument("--results", default=str(RESULTS))
    return p.parse_args(argv)


def train_kwargs(args, model: str) -> dict:
    """Settings of wavescope.models.training.train for one run, as plain dicts (also
    written to JSON); :func:`run_train` turns them into the call."""
    return dict(
        model=model,
        hparams=dict(steps=args.steps, batch_size=16, lr=3e-3, seed=args.seed),
        task=dict(name="copy", length=args.length),
        evaluation=dict(
            every=None, lengths=[args.length, 2 * args.length], examples=64, modes=["teacher"]
        ),
        log=dict(every=25, ckpt_every=250, progress=False),
        device="cpu",
        scale="cpu",
        threads=args.threads,
    )


def run_train(kw: dict, **extra):
    """``train()`` with the settings of :func:`train_kwargs` (plus out_dir, resume, ...)."""
    from wavescope.models.training import EvalSpec, LogSpec, TaskSpec, TrainHParams, train

    return train(
        kw["model"],
        TrainHParams(**kw["hparams"]),
        task=TaskSpec(**kw["task"]),
        evaluation=EvalSpec(**kw["evaluation"]),
        log=LogSpec(**kw["log"]),
        device=kw["device"],
        scale=kw["scale"],
        threads=kw["threads"],
        **extra,
    )


def train_all(args) -> dict:
    """Train (or resume, or skip when finished) the four copy models, one after the other."""
    import torch

    from wavescope.models.training import FINAL_EVAL

    torch.set_num_threads(args.threads)
    out = {}
    for model in TRAINED:
        d = Path(args.runs) / f"{model}_s{args.seed}"
        t0 = time.time()
        s = run_train(train_kwargs(args, model), out_dir=d, resume=d.exists())
        fe = json.loads((d / FINAL_EVAL).read_text()) if (d / FINAL_EVAL).exists() else {}
        out[model] = {"dir": str(d.relative_to(ROOT)), "step": s["step"], "final_eval": fe}
        print(f"[train] {model}: step {s['step']} ({time.time() - t0:.0f} s)", flush=True)
    return out


# ---------------------------------------------------------------------- (a), (b) untrained
def untrained(name: str, **overrides):
    """An untrained one-layer model (d_model 32) of ``name`` with config overrides."""
    import torch

    from wavescope.models.registry import build_model, default_config
    from wavescope.models.tasks import VOCAB_SIZE

    torch.manual_seed(0)
    cfg = default_config(name, d_model=32, n_layers=1, **overrides)
    return build_model(name, VOCAB_SIZE, cfg)


def curve_row(curve) -> dict:
    """The numbers of a curve that go into the tables."""
    return {
        "horizon": int(curve.horizon),
        "capacity": round(float(curve.capacity), 3),
        "acc_lag0": round(float(curve.score[0]), 4),
        "chance": round(float(curve.chance), 4),
        "censored": bool(curve.meta.get("horizon_censored", False)),
    }


def shift_register(args) -> dict:
    """(a) shift-SSM with N sites: horizon N, accuracy ~1 below, chance after."""
    from wavescope.models.memory_probe import model_memory_curve

    out = {}
    for n in (4, 8, 16):
        c = model_memory_curve(
            untrained("shift-ssm", n_sites=n), 0, n_sequences=100, length=64, max_lag=32
        )
        out[str(n)] = dict(
            curve_row(c),
            n_sites=n,
            acc_below_n_min=round(float(c.score[:n].min()), 4),
            acc_after_n_max=round(float(c.score[n:].max()), 4),
            summary=c.summary(),
        )
        print(f"[a] shift-ssm N={n}: horizon {c.horizon}, capacity {c.capacity:.2f}", flush=True)
    return out


def measured_velocity(model, v: float, n_sites: int) -> dict:
    """Wave speed of the model's layer 0 on its impulse response to a smooth pulse.

    As ``vwave_velocity.py``: a copy of the model fed a zero-mean pulse in channel 0, the
    probed state measured with the event-time and cross-correlation fits (sites/step).
    """
    import copy

    from wavescope.models.probe import capture_states
    from wavescope.models.synthetic import (
        default_levels,
        plan_pulse,
        pulse,
        signal_tokens,
        wire_scalar_input,
    )
    from wavescope.waves import event_time_velocity, xcorr_velocity

    m = copy.deepcopy(model)
    wire_scalar_input(m, channel=0)
    plan = plan_pulse(v, n_sites)
    u = pulse(plan["length"], plan["t0"], plan["sigma"])
    field = capture_states(m, signal_tokens(u, default_levels(m.vocab_size)), 0, channel=0)
    field = field.pick(plan["sites"])
    out = {}
    for name, fn in (("event_time", event_time_velocity), ("xcorr", xcorr_velocity)):
        try:
            out[name] = round(float(fn(field).speed), 4)
        except Exception as exc:  # report a measure that cannot run
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def velocity_sweep(args, n_sites=48, decays=(0.05, 0.01)) -> list[dict]:
    """(b) v-Wave at set velocities: horizon against N / v, with the measured velocity."""
    from wavescope.models.memory_probe import model_memory_curve

    rows = []
    max_lag = int(n_sites / min(VELOCITIES)) + 8
    for decay in decays:
        for v in VELOCITIES:
            model = untrained("vwave", n_sites=n_sites, velocity="fixed", v_init=v, decay=decay)
            t0 = time.time()
            c = model_memory_curve(model, 0, n_sequences=100, length=max_lag + 32, max_lag=max_lag)
            row = dict(
                curve_row(c),
                v_set=v,
                inv_v=1 / v,
                n_sites=n_sites,
                decay=decay,
                n_over_v=n_sites / v,
                wrap_amplitude=round(float(np.exp(-decay * n_sites)), 4),
                horizon_over_n_over_v=round(c.horizon / (n_sites / v), 3),
                speed=measured_velocity(model, v, n_sites) if decay == decays[0] else None,
                score=[round(float(x), 4) for x in c.score],
                above=[bool(x) for x in c.above],
            )
            rows.append(row)
            print(
                f"[b] v={v:g} decay={decay:g}: horizon {c.horizon} (N/v = {n_sites / v:.1f}), "
                f"capacity {c.capacity:.2f}, speed {row['speed']} ({time.time() - t0:.0f} s)",
                flush=True,
            )
    return rows


VELOCITIES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


# ---------------------------------------------------------------------- (c) trained
#: Parts probed per trained model: the wave-carrying SSM state(s) and the residual stream.
TRAINED_PARTS = {
    "mamba": ("ssm", "context", "residual"),
    "vwave-mamba": ("context", "residual"),
    "transformer-rope": ("residual",),
    "transformer-alibi": ("residual",),
}


def trained_curves(args, trained: dict) -> list[dict]:
    """(c) memory curves per layer and part of the copy-trained models."""
    from wavescope.models.checkpoint import load_model
    from wavescope.models.memory_probe import model_memory_curve

    per_model = Path(args.results) / "memory_curves"
    per_model.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in TRAINED:
        model, _ = load_model(ROOT / trained[name]["dir"] / "checkpoint.pt")
        for layer in range(model.n_layers):
            for part in TRAINED_PARTS[name]:
                t0 = time.time()
                c = model_memory_curve(
                    model,
                    layer,
                    part=part,
                    n_sequences=args.n_sequences if part == "residual" else args.n_sequences_state,
                    length=args.seq_length,
                    max_lag=args.max_lag,
                    seed=args.seed,
                )
                s = c.summary()
                f = per_model / f"{name}_L{layer}_{part}.json"
                f.write_text(json.dumps(s, indent=1))
                if part == "residual" and layer == model.n_layers - 1:
                    # one curve per model for 'wavescope compare --memory G=file.json':
                    # the residual stream after the last layer, comparable across models
                    (per_model / f"{name}.json").write_text(json.dumps(s, indent=1))
                v = c.meta.get("velocity_mean")
                rows.append(
                    dict(
                        curve_row(c),
                        model=name,
                        layer=layer,
                        part=part,
                        n_features=c.meta["n_features"],
                        velocity_mean=None if v is None else round(v, 4),
                        summary_file=str(f.relative_to(ROOT)),
                        summary=s,
                    )
                )
                print(
                    f"[c] {name} layer {layer} {part}: horizon {c.horizon}, capacity "
                    f"{c.capacity:.2f} ({c.meta['n_features']} features, "
                    f"{time.time() - t0:.0f} s)",
                    flush=True,
                )
    return rows


def trained_info(args) -> dict:
    """Run folders, steps and final evaluations of the trained models (no training)."""
    out = {}
    for model in TRAINED:
        d = Path(args.runs) / f"{model}_s{args.seed}"
        fe = json.loads((d / "final_eval.json").read_text())
        out[model] = {
            "dir": str(d.relative_to(ROOT)),
            "step": fe.get("step", args.steps),
            "lengths": fe.get("lengths"),
            "train_kwargs": train_kwargs(args, model),
        }
    return out


# ---------------------------------------------------------------------- outputs
def reach(above) -> int:
    """Last lag above the criterion + 1 (0 if none): the extent of the memory, gaps allowed.

    The horizon counts only lags above the criterion without a gap from lag 0; the reach
    shows memory that the horizon misses when some recent lags are not read (blurred
    sub-site waves, attention to fixed offsets).
    """
    idx = np.flatnonzero(np.asarray(above, bool))
    return int(idx[-1]) + 1 if idx.size else 0


def findings(res: dict) -> list[str]:
    """Plain statements of what the numbers show (written into the .md and the JSON)."""
    out = []
    a = res["shift_ssm"]
    ok = all(r["horizon"] == int(n) for n, r in a.items())
    out.append(
        f"- (a) shift-SSM: horizon {'=' if ok else '!='} N for N = {', '.join(a)} "
        f"(min accuracy below N {min(r['acc_below_n_min'] for r in a.values()):.3f}, "
        f"max after {max(r['acc_after_n_max'] for r in a.values()):.3f})."
    )
    for d in sorted({r["decay"] for r in res["velocity_sweep"]}, reverse=True):
        rows = [r for r in res["velocity_sweep"] if r["decay"] == d]
        wrap = rows[0]["wrap_amplitude"]
        holds = [r["v_set"] for r in rows if abs(r["horizon_over_n_over_v"] - 1) <= 0.05]
        over = [r for r in rows if r["horizon_over_n_over_v"] > 1.05]
        under = [r for r in rows if r["horizon_over_n_over_v"] < 0.95]
        txt = f"- (b) decay {d:g}/site (a wrapped letter keeps {wrap:.2f} of its amplitude): "
        txt += f"horizon = N/v within 5 % at v = {', '.join(f'{v:g}' for v in holds) or 'none'}"
        if over:
            txt += "; above N/v (the ring wraps and the decay is too weak to forget: older "
            txt += "letters are still read under the newer ones) at " + ", ".join(
                f"v = {r['v_set']:g} ({r['horizon']}{'+' if r['censored'] else ''} vs "
                f"{r['n_over_v']:.0f})"
                for r in over
            )
        if under:
            txt += "; below N/v at " + ", ".join(
                f"v = {r['v_set']:g} (horizon {r['horizon']} vs {r['n_over_v']:.0f}, accuracy at "
                f"lags 0-2 {', '.join(f'{x:.2f}' for x in r['score'][:3])}, reach "
                f"{reach(r['above'])}, capacity {r['capacity']:.1f})"
                for r in under
            )
            txt += (
                ": the newest letters are not read although older ones are, up to a reach "
                "near N/v; at v = 1/4 four letters share one site spacing and the "
                "band-limited (Dirichlet) interpolation of the sub-site shift spreads each "
                "over the whole ring, so the most recent ones are blurred into each other"
            )
        if not over and not any(r["v_set"] > 1 for r in under):
            txt += (
                "; v > 1 (low-passed input, about N/v + 1 ring modes for N/v letters) does not "
                "shorten the horizon at these N"
            )
        out.append(txt + ".")
    sp = [
        (r["v_set"], r["speed"][k])
        for r in res["velocity_sweep"]
        if r["speed"]
        for k in ("event_time", "xcorr")
        if isinstance(r["speed"][k], float)
    ]
    if sp:
        err = max(abs(s / v - 1) for v, s in sp)
        out.append(
            f"- (b) the measured wave speed of the same layer matches the set v within "
            f"{100 * err:.1f} % (event-time and cross-correlation, all v)."
        )
    for name in TRAINED:
        rows = [r for r in res["trained"] if r["model"] == name]
        if rows:
            out.append(
                f"- (c) {name}: "
                + "; ".join(
                    f"layer {r['layer']} {r['part']} horizon {r['horizon']}"
                    f"{'+' if r['censored'] else ''} (reach {reach(r['summary']['above'])}), "
                    f"capacity {r['capacity']:.1f}"
                    for r in rows
                )
                + "."
            )
    return out


def markdown(res: dict) -> str:
    lines = ["# Memory curves", "", "## (a) shift-SSM, untrained", ""]
    lines += ["| N sites | horizon | capacity | min acc, lags < N | max acc, lags >= N |"]
    lines += ["|---:|---:|---:|---:|---:|"]
    for n, r in res["shift_ssm"].items():
        lines.append(
            f"| {n} | {r['horizon']} | {r['capacity']:.2f} | {r['acc_below_n_min']:.3f} | "
            f"{r['acc_after_n_max']:.3f} |"
        )
    lines += ["", "## (b) v-Wave at set velocities, untrained (N = 48 sites)", ""]
    lines += [
        "| v (sites/step) | decay/site | N/v | horizon | horizon/(N/v) | reach | capacity | "
        "event-time speed | xcorr speed |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["velocity_sweep"]:
        sp = r["speed"] or {}
        lines.append(
            f"| {r['v_set']:g} | {r['decay']:g} | {r['n_over_v']:.1f} | {r['horizon']}"
            f"{'+' if r['censored'] else ''} | {r['horizon_over_n_over_v']:.2f} | "
            f"{reach(r['above'])} | {r['capacity']:.2f} | {sp.get('event_time', '-')} | "
            f"{sp.get('xcorr', '-')} |"
        )
    lines += ["", "## (c) copy-trained models (cpu scale, one seed)", ""]
    lines += [
        "| model | layer | part | features | horizon | reach | capacity | acc lag 0 | mean v |"
    ]
    lines += ["|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["trained"]:
        v = "-" if r["velocity_mean"] is None else f"{r['velocity_mean']:.2f}"
        lines.append(
            f"| {r['model']} | {r['layer']} | {r['part']} | {r['n_features']} | "
            f"{r['horizon']}{'+' if r['censored'] else ''} | {reach(r['summary']['above'])} | "
            f"{r['capacity']:.2f} | {r['acc_lag0']:.3f} | {v} |"
        )
    lines += [
        "",
        "Horizon: lags above chance + 3 SE without a gap from lag 0; marked + when it reached "
        "max_lag + 1 (a lower bound). Reach: last lag above the criterion + 1, gaps allowed. "
        "Capacity: sum over lags of (accuracy - chance) / (1 - chance), in steps.",
        "",
    ]
    lines += ["## Findings", ""] + res.get("findings", [])
    return "\n".join(lines) + "\n"


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(17, 4.6))
    sweep = res["velocity_sweep"]
    decays = sorted({r["decay"] for r in sweep}, reverse=True)
    for i, d in enumerate(decays):
        rows = [r for r in sweep if r["decay"] == d]
        x = [r["inv_v"] for r in rows]
        ax[0].plot(x, [r["horizon"] for r in rows], "o-", color=f"C{i}", label=f"decay {d:g}")
        ax[0].plot(x, [r["capacity"] for r in rows], "s:", color=f"C{i}", alpha=0.6)
        ax[0].plot(x, [reach(r["above"]) for r in rows], "^", color=f"C{i}", mfc="none")
    x = np.linspace(0, max(r["inv_v"] for r in sweep) * 1.05, 50)
    ax[0].plot(x, sweep[0]["n_sites"] * x, "k--", lw=1, label="N / v")
    ax[0].set(xlabel="1 / v (steps/site)", ylabel="steps")
    ax[0].set_title("(b) horizon (o), reach (^), capacity (s)")
    ax[0].legend(fontsize=8)
    first = [r for r in sweep if r["decay"] == decays[0] and r["speed"]]
    for key, mk in (("event_time", "o"), ("xcorr", "x")):
        pts = [(r["v_set"], r["speed"][key]) for r in first if isinstance(r["speed"][key], float)]
        if pts:
            ax[1].plot(*zip(*pts), mk, label=key.replace("_", "-"))
    vv = np.array([r["v_set"] for r in first])
    ax[1].plot(vv, vv, "k--", lw=1, label="set v")
    ax2 = ax[1].twinx()
    ax2.plot(vv, [r["horizon_over_n_over_v"] for r in first], "s-", color="C3", alpha=0.7)
    ax2.plot(vv, [reach(r["above"]) / r["n_over_v"] for r in first], "^", color="C3", mfc="none")
    ax2.set_ylabel("horizon (s), reach (^) / (N/v)", color="C3")
    ax2.axhline(1, color="C3", lw=0.8, ls=":")
    ax[1].set(xlabel="set v (sites/step)", ylabel="measured speed (sites/step)")
    ax[1].set_title(f"(b) wave speed on the same layer; decay {decays[0]:g}")
    ax[1].legend(fontsize=8, loc="upper left")
    colours = {m: f"C{i}" for i, m in enumerate(TRAINED)}
    for r in res["trained"]:
        if r["layer"] != 1:
            continue
        s = r["summary"]
        ls = {"residual": "-", "context": "--", "ssm": ":"}[r["part"]]
        ax[2].plot(
            s["lags"], s["score"], ls, color=colours[r["model"]], label=f"{r['model']} {r['part']}"
        )
    if res["trained"]:
        ax[2].axhline(res["trained"][0]["chance"], color="k", lw=0.8, ls=":")
    ax[2].set(xlabel="lag tau (steps)", ylabel="held-out accuracy", ylim=(0, 1.02))
    ax[2].set_title("(c) copy-trained, layer 1 (-- conv/v-Wave ring, : SSM states)")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> None:
    args = parse_args(argv)
    t0 = time.time()
    if args.stage == "train":
        train_all(args)
        print(f"done in {(time.time() - t0) / 60:.1f} min ({platform.node()})", flush=True)
        return
    out = Path(args.results)
    if args.stage == "report":
        res = json.loads((out / "memory_curves.json").read_text())
        res["findings"] = findings(res)
        (out / "memory_curves.json").write_text(json.dumps(res, indent=1))
        (out / "memory_curves.md").write_text(markdown(res))
        figure(res, out / "memory_curves.png")
        return
    import torch

    torch.set_num_threads(args.threads)
    if args.stage == "all":
        train_all(args)
    res = {
        "claim": "a traveling wave holds the recent input history; its velocity sets how far",
        "command": "python analyses/memory_curves.py " + " ".join(argv or []),
        "settings": {k: v for k, v in vars(args).items() if k not in ("runs", "results")},
    }
    res["shift_ssm"] = shift_register(args)
    res["velocity_sweep"] = velocity_sweep(args)
    res["trained_runs"] = trained_info(args)
    res["trained"] = trained_curves(args, res["trained_runs"])
    res["time_min"] = round((time.time() - t0) / 60, 1)
    res["findings"] = findings(res)
    (out / "memory_curves.json").write_text(json.dumps(res, indent=1))
    (out / "memory_curves.md").write_text(markdown(res))
    figure(res, out / "memory_curves.png")
    print(f"done in {(time.time() - t0) / 60:.1f} min ({platform.node()})", flush=True)


if __name__ == "__main__":
    main()
