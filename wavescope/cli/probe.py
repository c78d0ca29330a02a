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

torch and wavescope.models are imported inside :func:`run` only.
"""

from __future__ import annotations

from pathlib import Path

from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path, write_json


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


def _plot_path(args):
    from wavescope.report.figures import FIGURE_FORMATS

    return check_output_path(
        args.plot, args.overwrite, suffix=".png", allowed_suffixes=FIGURE_FORMATS,
        inputs=[args.checkpoint], option="--plot",
    )  # fmt: skip


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


def _is_hf_dir(path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "config.json").is_file()


def run(args) -> int:
    from wavescope.cli.options import require_torch

    require_torch("probe")
    if args.memory_curve:
        if _is_hf_dir(args.checkpoint):
            raise WaveInputError(
                "--memory-curve feeds copy-task letters to the models 'wavescope train' makes; "
                "for a Hugging Face model use wavescope.models.hf_probe.hf_state_snapshots "
                "with wavescope.waves.memory.memory_curve on tokens of its vocabulary."
            )
        return run_memory_curve(args)
    if not args.impulse and (args.impulse_token is not None or args.pad_token is not None):
        if args.input is not None or args.tokens is not None:
            raise WaveInputError("--impulse-token/--pad-token go with --impulse.")
    if args.out is None:
        raise WaveInputError("--out is required (the output .npz) unless --memory-curve is given.")
    if args.length is None:
        args.length = 64
    out = check_output_path(
        args.out, args.overwrite, suffix=".npz", allowed_suffixes=(".npz",),
        inputs=[args.checkpoint], option="--out",
    )  # fmt: skip
    _plot_path(args)
    if args.length < 2:
        raise WaveInputError(f"--length must be at least 2 steps, got {args.length}.")

    import torch

    from wavescope.io.npz import write_npz
    from wavescope.models.probe import (
        capture_states,
        checkpoint_identity,
        impulse_response,
        load_model,
        text_tokens,
    )
    from wavescope.models.threads import set_default_threads

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")
    if _is_hf_dir(args.checkpoint):
        return run_hf(args, out)
    model, ckpt = load_model(args.checkpoint, map_location=args.device)
    identity = checkpoint_identity(args.checkpoint, ckpt)
    model.to(args.device)
    set_default_threads(model)  # 2+ threads collapse on small models when a core is busy
    if args.input is not None or args.tokens is not None:
        if args.input is not None:
            tokens, source = text_tokens(args.input), f"text {args.input!r}"
        else:
            tokens = torch.tensor([_token_ids(args.tokens)], dtype=torch.long)
            source = f"tokens {args.tokens}"
        field = capture_states(model, tokens, args.layer, args.channel, part=args.part)
    else:
        # an impulse: a letter ('a', id 4) at step 4 among pads (id 0), minus the pads' response
        field = impulse_response(
            model,
            args.layer,
            args.length,
            position=min(4, args.length - 1),
            token=4 if args.impulse_token is None else args.impulse_token,
            background=0 if args.pad_token is None else args.pad_token,
            channel=args.channel,
            part=args.part,
        )
        source = "impulse (response minus background)"
    field.meta.update(identity)
    write_npz(out, field, overwrite=args.overwrite)
    print(
        f"wrote {out}: {model.name} layer {args.layer} ({field.meta['part']}), "
        f"{field.n_sites} sites x {field.n_times} steps, input {source}; subject "
        f"{identity['subject']!r}"
    )
    if args.plot:
        from wavescope.pipelines.outputs import save
        from wavescope.report.figures import save_figure, spacetime_figure

        plot = _plot_path(args)
        save(plot, save_figure(spacetime_figure(field), plot.suffix))
        print(f"wrote {plot}")
    return 0


def run_hf(args, out: Path) -> int:
    """A Hugging Face Mamba / Mamba2 folder: states from its own step cache."""
    from wavescope.io.npz import write_npz
    from wavescope.models.hf_probe import (
        hf_capture_states,
        hf_impulse_response,
        is_hf_model_dir,
        load_hf_model,
    )

    if not is_hf_model_dir(args.checkpoint):
        raise WaveInputError(
            f"{args.checkpoint}: its config.json is not a Mamba or Mamba2 model's "
            "(model_type mamba / mamba2); other models have no SSM state to probe here."
        )
    part = args.part or "ssm"
    if part not in ("ssm", "conv"):
        raise WaveInputError(f"--part {part!r}: a HF Mamba model has parts ssm and conv.")
    if args.input is not None:
        raise WaveInputError("--input is copy-task text; give a HF model --tokens ID,ID,...")
    model = load_hf_model(args.checkpoint, device=args.device)
    if args.tokens is not None:
        ids = _token_ids(args.tokens)
        field = hf_capture_states(model, [ids], args.layer, args.channel, part=part)
        source = f"tokens {args.tokens}"
    else:
        token = 1 if args.impulse_token is None else args.impulse_token
        pad = 0 if args.pad_token is None else args.pad_token
        field = hf_impulse_response(
            model,
            args.layer,
            args.length,
            position=min(4, args.length - 1),
            token=token,
            background=pad,
            channel=args.channel,
            part=part,
        )
        source = f"impulse (token {token} at step 4 among {pad}; response minus background)"
    # one HF model folder is one subject (its weights); its resolved folder names it
    field.meta.setdefault(
        "subject", f"{field.meta['hf_class']} {Path(args.checkpoint).resolve().name}"
    )
    write_npz(out, field, overwrite=args.overwrite)
    print(
        f"wrote {out}: {field.meta['hf_class']} layer {field.meta['layer']} ({part}), "
        f"{field.n_sites} sites x {field.n_times} steps, input {source}"
    )
    if args.plot:
        from wavescope.pipelines.outputs import save
        from wavescope.report.figures import save_figure, spacetime_figure

        plot = _plot_path(args)
        save(plot, save_figure(spacetime_figure(field), plot.suffix))
        print(f"wrote {plot}")
    return 0


def run_memory_curve(args) -> int:
    """``--memory-curve``: the layer's memory curve, printed, and written as JSON / PNG."""
    if args.input is not None or args.impulse or args.tokens is not None:
        raise WaveInputError(
            "--memory-curve feeds random letters; drop --input/--impulse/--tokens (use --length, "
            "--n-sequences and --seed to set them)."
        )
    length = 96 if args.length is None else args.length
    check_output_path(
        args.json, args.overwrite, suffix=".json", allowed_suffixes=(".json",),
        inputs=[args.checkpoint], option="--json",
    )  # fmt: skip
    _plot_path(args)

    import torch

    from wavescope.models.memory_probe import model_memory_curve
    from wavescope.models.probe import check_probe_size, checkpoint_identity, load_model
    from wavescope.models.threads import set_default_threads

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")
    model, ckpt = load_model(args.checkpoint, map_location=args.device)
    identity = checkpoint_identity(args.checkpoint, ckpt)
    model.to(args.device)
    set_default_threads(model)  # 2+ threads collapse on small models when a core is busy
    check_probe_size(model, args.n_sequences, length)
    curve = model_memory_curve(
        model,
        args.layer,
        part=args.part,
        n_sequences=args.n_sequences,
        length=length,
        max_lag=args.max_lag,
        seed=args.seed,
    )
    curve.meta.update(identity)  # the curve's subject: this trained model
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
        from wavescope.pipelines.outputs import save
        from wavescope.report.figures import plot_memory_curves

        label = f"{model.name} L{m['layer']} {m['part']}"
        plot = _plot_path(args)
        save(plot, plot_memory_curves({label: [summary]}))
        print(f"wrote {plot}")
    return 0
