"""``wavescope memory INPUT --input-channel NAME --max-lag T``: the memory curve of a field.

How many steps of a known input sequence the sites of a recording (or a hidden-state
capture) hold: :func:`wavescope.pipelines.memory.recording_memory_curve` on any file
``wavescope velocity`` reads, with the input taken from one of its channels or from a
.npy file.
"""

from __future__ import annotations

from pathlib import Path

from wavescope.cli.options import add_output_options
from wavescope.io.outputs import check_output_path


def register(sub) -> None:
    p = sub.add_parser(
        "memory",
        help="memory curve: how far back a field's sites hold a known input sequence",
        description="Decode the input presented tau samples earlier from the sites at each "
        "sample (cross-validated ridge or logistic decoders over contiguous time blocks; over "
        "epochs when the file holds several), for tau = 0..T; report the held-out accuracy or "
        "R^2 per lag with 95% intervals, the memory horizon and the capacity. The input is "
        "read as tokens when it is integer-valued with at most 64 distinct values, otherwise "
        "as real values (override with --input-type).",
    )
    p.add_argument("input", help="recording (MNE-readable) or .npz (interchange format)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--input-channel",
        metavar="NAME",
        help="channel holding the input sequence (taken out of the features)",
    )
    src.add_argument(
        "--inputs",
        metavar="FILE.npy",
        help="input sequence, shape (n_times,) (or (n_epochs, n_times) for an epochs file)",
    )
    p.add_argument("--max-lag", type=int, required=True, metavar="T", help="largest lag (samples)")
    p.add_argument("--decoder", default="ridge", choices=("ridge", "logistic"))
    p.add_argument("--splits", type=int, default=5, metavar="K", help="cross-validation folds")
    p.add_argument(
        "--blocks",
        type=int,
        default=10,
        metavar="B",
        help="contiguous time blocks of one recording (the units of cross-validation)",
    )
    p.add_argument(
        "--input-type",
        default="auto",
        choices=("auto", "tokens", "values"),
        help="read the input as tokens (accuracy) or real values (R^2); auto: see above",
    )
    p.add_argument(
        "--criterion-se",
        type=float,
        default=3.0,
        help="a lag holds memory when its score exceeds chance + this many standard errors",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_output_options(p, plot="a figure of the curve")
    p.set_defaults(func=run)


def run(args) -> int:
    from wavescope.pipelines.memory import recording_memory_curve
    from wavescope.pipelines.outputs import save
    from wavescope.report.figures import FIGURE_FORMATS, plot_memory_curves
    from wavescope.report.text import format_curve

    inputs = [args.input] + ([args.inputs] if args.inputs else [])
    json_out = check_output_path(
        args.json, args.overwrite, suffix=".json", allowed_suffixes=(".json",), inputs=inputs,
        option="--json",
    )  # fmt: skip
    plot_out = check_output_path(
        args.plot, args.overwrite, suffix=".png", allowed_suffixes=FIGURE_FORMATS[:1],
        inputs=inputs, option="--plot",
    )  # fmt: skip
    curve = recording_memory_curve(
        args.input,
        args.max_lag,
        input_channel=args.input_channel,
        inputs=args.inputs,
        input_type=args.input_type,
        n_blocks=args.blocks,
        decoder=args.decoder,
        n_splits=args.splits,
        criterion_se=args.criterion_se,
        seed=args.seed,
    )
    summary = curve.summary()
    src = summary["meta"]["input_source"]
    print(f"memory curve of {args.input}: input from {next(iter(src.values()))}")
    print(format_curve(summary))
    if json_out:
        save(json_out, summary)
        print(f"wrote {json_out}")
    if plot_out:
        save(plot_out, plot_memory_curves({Path(args.input).stem: [summary]}))
        print(f"wrote {plot_out}")
    return 0
