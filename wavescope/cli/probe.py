"""``wavescope probe``: hidden states of a trained model's layer to an interchange .npz.

    wavescope probe CHECKPOINT --layer K [--input TEXT | --impulse] [--channel C]
                    [--part P] --out states.npz [--plot fig.png] [--overwrite]

or its memory curve (the letter of tau steps ago decoded from the layer's state):

    wavescope probe CHECKPOINT --layer K --memory-curve [--part P] [--max-lag T]
                    [--n-sequences S] [--length L] [--json OUT] [--plot OUT.png]

torch and wavescope.models are imported inside :func:`run` only.
"""

from __future__ import annotations

from pathlib import Path

from wavescope.core.errors import WaveFileExistsError
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import write_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe",
        help="capture an SSM layer's hidden states (sites x steps) into a .npz",
        description=(
            "Run a trained model on an input and write layer K's SSM state along its state "
            "dimension (sites = state index, one sample per step) in the .npz interchange "
            "format, so that 'wavescope velocity' and every wave measure read it."
        ),
    )
    p.add_argument("checkpoint", help="checkpoint file written by 'wavescope train'")
    p.add_argument("--layer", type=int, required=True, help="layer index, 0-based")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--input",
        metavar="TEXT",
        help="input text: letters a-z and _ < | > for pad, begin, separator, end",
    )
    src.add_argument(
        "--impulse",
        action="store_true",
        help="an impulse input: letter 'a' at step 4 among pads (the default input); the "
        "field is the response to it: states(impulse) - states(pads only)",
    )
    p.add_argument(
        "--length",
        type=int,
        default=None,
        help="impulse input length (default 64); with --memory-curve, steps per random "
        "letter sequence (default 96)",
    )
    p.add_argument(
        "--channel", type=int, default=None, help="channel to capture (default: mean over channels)"
    )
    p.add_argument(
        "--part",
        default=None,
        help="which state: ssm|context (mamba, vwave-mamba), shift|diag (shift-ssm, vwave); "
        "with --memory-curve also 'residual' (the residual stream after the layer; the only "
        "part of a transformer)",
    )
    p.add_argument("--out", default=None, help="output .npz (required without --memory-curve)")
    p.add_argument(
        "--plot",
        default=None,
        help="also write a figure (PNG): the space-time field, or with --memory-curve the curve",
    )
    mem = p.add_argument_group("memory curve")
    mem.add_argument(
        "--memory-curve",
        action="store_true",
        help="decode the letter of tau steps ago from the layer's state (i.i.d. random "
        "letters, cross-validated over sequences) and print the memory horizon and capacity",
    )
    mem.add_argument("--max-lag", type=int, default=48, help="largest lag tau (default 48)")
    mem.add_argument(
        "--n-sequences", type=int, default=200, help="random letter sequences (default 200)"
    )
    mem.add_argument("--seed", type=int, default=0, help="seed of the letters (default 0)")
    mem.add_argument("--json", default=None, help="write the curve's summary (JSON)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.memory_curve:
        return run_memory_curve(args)
    if args.out is None:
        raise WaveInputError("--out is required (the output .npz) unless --memory-curve is given.")
    if args.length is None:
        args.length = 64
    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_suffix(out.suffix + ".npz")
    for f in (out, Path(args.plot) if args.plot else None):
        if f is not None and f.exists() and not args.overwrite:
            raise WaveFileExistsError(f"{f} exists; pass --overwrite to replace it.")
    if args.length < 2:
        raise WaveInputError(f"--length must be at least 2 steps, got {args.length}.")

    import torch

    from wavescope.io.npz import write_npz
    from wavescope.models.probe import capture_states, impulse_response, load_model, text_tokens
    from wavescope.models.threads import set_default_threads

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")
    model, _ = load_model(args.checkpoint, map_location=args.device)
    model.to(args.device)
    set_default_threads(model)  # 2+ threads collapse on small models when a core is busy
    if args.input is not None:
        tokens = text_tokens(args.input)
        source = f"text {args.input!r}"
        field = capture_states(model, tokens, args.layer, args.channel, part=args.part)
    else:
        # an impulse: a letter ('a', id 4) at step 4 among pads (id 0), minus the pads' response
        field = impulse_response(
            model,
            args.layer,
            args.length,
            position=min(4, args.length - 1),
            token=4,
            background=0,
            channel=args.channel,
            part=args.part,
        )
        source = "impulse (response minus background)"
    write_npz(out, field, overwrite=args.overwrite)
    print(
        f"wrote {out}: {model.name} layer {args.layer} ({field.meta['part']}), "
        f"{field.n_sites} sites x {field.n_times} steps, input {source}"
    )
    if args.plot:
        from wavescope.report.spacetime import plot_spacetime

        plot_spacetime(field, args.plot, overwrite=True)
        print(f"wrote {args.plot}")
    return 0


def run_memory_curve(args) -> int:
    """``--memory-curve``: the layer's memory curve, printed, and written as JSON / PNG."""
    if args.input is not None or args.impulse:
        raise WaveInputError(
            "--memory-curve feeds random letters; drop --input/--impulse (use --length, "
            "--n-sequences and --seed to set them)."
        )
    length = 96 if args.length is None else args.length
    for f in (args.json, args.plot):
        if f is not None and Path(f).exists() and not args.overwrite:
            raise WaveFileExistsError(f"{f} exists; pass --overwrite to replace it.")

    import torch

    from wavescope.models.memory_probe import model_memory_curve
    from wavescope.models.probe import load_model
    from wavescope.models.threads import set_default_threads

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")
    model, _ = load_model(args.checkpoint, map_location=args.device)
    model.to(args.device)
    set_default_threads(model)  # 2+ threads collapse on small models when a core is busy
    curve = model_memory_curve(
        model,
        args.layer,
        part=args.part,
        n_sequences=args.n_sequences,
        length=length,
        max_lag=args.max_lag,
        seed=args.seed,
    )
    summary = curve.summary()
    m = curve.meta
    print(
        f"{model.name} layer {m['layer']} ({m['part']}, {m['n_features']} features): "
        f"memory horizon {curve.horizon} {curve.time_unit}s (reach {curve.reach}), "
        f"capacity {curve.capacity:.2f} "
        f"{curve.time_unit}s (accuracy at lag 0: {float(curve.score[0]):.3f}, chance "
        f"{curve.chance:.3f}; {curve.n_sequences} sequences, lags 0-{int(curve.lags[-1])})"
    )
    if curve.horizon > int(curve.lags[-1]):
        print(f"note: every lag up to --max-lag {args.max_lag} is above chance; raise --max-lag")
    if args.json:
        write_json(args.json, summary, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        from wavescope.report.figures import plot_memory_curves

        label = f"{model.name} L{m['layer']} {m['part']}"
        plot_memory_curves({label: [summary]}, args.plot)
        print(f"wrote {args.plot}")
    return 0
