"""``wavescope probe``: hidden states of a trained model's layer to an interchange .npz.

    wavescope probe CHECKPOINT --layer K [--input TEXT | --impulse] [--channel C]
                    [--part P] --out states.npz [--plot fig.png] [--overwrite]

torch and wavescope.models are imported inside :func:`run` only.
"""

from __future__ import annotations

from pathlib import Path

from wavescope.core.validate import WaveInputError


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
    p.add_argument("--length", type=int, default=64, help="impulse input length (default 64)")
    p.add_argument(
        "--channel", type=int, default=None, help="channel to capture (default: mean over channels)"
    )
    p.add_argument(
        "--part",
        default=None,
        help="which state: ssm|context (mamba, vwave-mamba), shift|diag (shift-ssm, vwave)",
    )
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--plot", default=None, help="also write a space-time figure (PNG)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_suffix(out.suffix + ".npz")
    for f in (out, Path(args.plot) if args.plot else None):
        if f is not None and f.exists() and not args.overwrite:
            raise WaveInputError(f"{f} exists; pass --overwrite to replace it.")
    if args.length < 2:
        raise WaveInputError(f"--length must be at least 2 steps, got {args.length}.")

    import torch

    from wavescope.io.npz import write_npz
    from wavescope.models.probe import capture_states, impulse_response, load_model, text_tokens

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")
    model, _ = load_model(args.checkpoint, map_location=args.device)
    model.to(args.device)
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
