"""``wavescope probe``: hidden states of a trained model's layer to an interchange .npz.

    wavescope probe CHECKPOINT --layer K [--input TEXT | --impulse | --tokens ID,ID,...]
                    [--channel C] [--part P] --out states.npz [--plot fig.png] [--overwrite]

A Hugging Face Mamba / Mamba2 model saved with ``save_pretrained`` (a folder with a
config.json) is probed through its own step cache (:mod:`wavescope.models.hf_probe`):

    wavescope probe MODEL_DIR --layer K --part ssm|conv [--channel C]
                    (--impulse [--impulse-token ID] [--pad-token ID] | --tokens ID,ID,...)
                    [--length L] --out states.npz

or its memory curve (the letter of tau steps ago decoded from the layer's state):

    wavescope probe CHECKPOINT --layer K --memory-curve [--part P] [--max-lag T]
                    [--n-sequences S] [--length L] [--json OUT] [--plot OUT.png]

The job itself is :func:`wavescope.pipelines.probe.probe_model` (one path for checkpoints,
Hugging Face folders and model objects) and :func:`wavescope.pipelines.memory.model_memory`;
this module parses, calls them, renders and prints. torch is imported when a job runs.
"""

from __future__ import annotations

from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path


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
    p.add_argument(
        "checkpoint",
        help="checkpoint file written by 'wavescope train', or the folder of a Hugging Face "
        "Mamba/Mamba2 model saved with save_pretrained (config.json + weights; nothing is "
        "downloaded)",
    )
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
        help="an impulse input: letter 'a' at step 4 among pads (the default input; a HF "
        "model: token 1 among token 0); the field is the response to it: states(impulse) - "
        "states(pads only)",
    )
    src.add_argument(
        "--tokens",
        metavar="ID,ID,...",
        default=None,
        help="input token ids, comma-separated (e.g. 5,9,9,2)",
    )
    p.add_argument(
        "--impulse-token",
        type=int,
        default=None,
        metavar="ID",
        help="token id of the impulse (default 4, the letter 'a'; a HF model: 1)",
    )
    p.add_argument(
        "--pad-token",
        type=int,
        default=None,
        metavar="ID",
        help="token id around the impulse (default 0)",
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
        help="which state: ssm|context (mamba, vwave-mamba), shift|diag (shift-ssm, vwave), "
        "ssm|conv (a HF Mamba/Mamba2 folder; default ssm); with --memory-curve also "
        "'residual' (the residual stream after the layer; the only part of a transformer)",
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


def _checked(args, option: str, suffix: str, allowed: tuple):
    """The path of ``option`` (None when not given), checked before any work."""
    path = getattr(args, option.removeprefix("--"))
    return check_output_path(
        path, args.overwrite, suffix=suffix, allowed_suffixes=allowed,
        inputs=[args.checkpoint], option=option,
    )  # fmt: skip


def _plot_path(args):
    from wavescope.report.figures import FIGURE_FORMATS

    return _checked(args, "--plot", ".png", FIGURE_FORMATS)


def _token_ids(text: str):
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise WaveInputError(
            f"--tokens must be comma-separated integer ids (e.g. 5,9,9,2), got {text!r}."
        ) from None
    if not ids:
        raise WaveInputError("--tokens is empty; give at least one token id.")
    return ids


def run(args) -> int:
    from wavescope.cli.options import require_torch

    require_torch("probe")
    if args.memory_curve:
        return run_memory_curve(args)
    from wavescope.pipelines.probe import ProbeInput, probe_model

    if args.out is None:
        raise WaveInputError("--out is required (the output .npz) unless --memory-curve is given.")
    what = ProbeInput(
        text=args.input,
        tokens=None if args.tokens is None else _token_ids(args.tokens),
        length=64 if args.length is None else args.length,
        impulse_token=args.impulse_token,
        pad_token=args.pad_token,
    )
    out = _checked(args, "--out", ".npz", (".npz",))
    plot = _plot_path(args)
    result = probe_model(
        args.checkpoint, args.layer, what, channel=args.channel, part=args.part,
        device=args.device, out=out, overwrite=args.overwrite,
    )  # fmt: skip
    f = result.field
    print(
        f"wrote {result.out}: {result.model} layer {result.layer} ({result.part}), "
        f"{f.n_sites} sites x {f.n_times} steps, input {result.source}; subject "
        f"{result.subject!r}"
    )
    if plot:
        from wavescope.pipelines.outputs import save
        from wavescope.report.figures import save_figure, spacetime_figure

        save(plot, save_figure(spacetime_figure(f), plot.suffix))
        print(f"wrote {plot}")
    return 0


def run_memory_curve(args) -> int:
    """``--memory-curve``: the layer's memory curve, printed, and written as JSON / PNG."""
    from wavescope.pipelines.memory import model_memory

    if args.input is not None or args.impulse or args.tokens is not None:
        raise WaveInputError(
            "--memory-curve feeds random letters; drop --input/--impulse/--tokens (use --length, "
            "--n-sequences and --seed to set them)."
        )
    json_out = _checked(args, "--json", ".json", (".json",))
    plot = _plot_path(args)
    result = model_memory(
        args.checkpoint, args.layer, part=args.part, n_sequences=args.n_sequences,
        length=96 if args.length is None else args.length, max_lag=args.max_lag,
        seed=args.seed, device=args.device, json=json_out,
    )  # fmt: skip
    curve, m = result.curve, result.curve.meta
    print(
        f"{result.model} layer {m['layer']} ({m['part']}, {m['n_features']} features): "
        f"memory horizon {curve.horizon} {curve.time_unit}s (reach {curve.reach}), "
        f"capacity {curve.capacity:.2f} "
        f"{curve.time_unit}s (accuracy at lag 0: {float(curve.score[0]):.3f}, chance "
        f"{curve.chance:.3f}; {curve.n_sequences} sequences, lags 0-{int(curve.lags[-1])})"
    )
    if result.beyond_max_lag:
        print(f"note: every lag up to --max-lag {args.max_lag} is above chance; raise --max-lag")
    if result.json:
        print(f"wrote {result.json}")
    if plot:
        from wavescope.pipelines.outputs import save
        from wavescope.report.figures import plot_memory_curves

        save(plot, plot_memory_curves({result.label: [result.to_json()]}))
        print(f"wrote {plot}")
    return 0
