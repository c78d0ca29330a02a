"""``wavescope memory INPUT --input-channel NAME --max-lag T``: the memory curve of a field.

How many steps of a known input sequence the sites of a recording (or a hidden-state
capture) hold: :func:`wavescope.waves.memory.memory_curve_field` on any file ``wavescope
velocity`` reads, with the input taken from one of its channels or from a .npy file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path, write_json


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
    p.add_argument("--json", metavar="OUT", help="write the curve (MemoryCurve.summary) as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="write a figure of the curve")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _split_channel(field, name: str):
    """(field without the channel, the channel's samples)."""
    if name not in field.ch_names:
        shown = ", ".join(field.ch_names[:12]) + (", ..." if field.n_sites > 12 else "")
        raise WaveInputError(f"no channel named {name!r}; the channels are: {shown}.")
    i = field.ch_names.index(name)
    if field.n_sites < 2:
        raise WaveInputError(f"{name!r} is the only channel: no sites are left as features.")
    rest = [j for j in range(field.n_sites) if j != i]
    return field.pick(rest), field.data[i].copy()


def _read_inputs(path: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise WaveFileNotFoundError(f"{p}: no such file.")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise WaveInputError(
            f"{p}: not a .npy array ({type(exc).__name__}: {exc}); save it with numpy.save."
        ) from None


def format_curve(s: dict, n_rows: int = 14) -> str:
    """Horizon, capacity and a short table of a MemoryCurve summary."""
    unit = s["time_unit"]
    cens = " (every lag above: a lower bound)" if s["meta"].get("horizon_censored") else ""
    lines = [
        f"metric     {s['metric']} ({s['meta'].get('input_kind')}), decoder {s['decoder']}, "
        f"{s['n_splits']} folds over {s['n_sequences']} {s['meta'].get('groups', 'groups')}",
        f"chance     {s['chance']:.4g}   criterion: chance + {s['meta']['criterion_se']:g} SE",
        f"horizon    {s['horizon']} steps = {s['horizon_time']:.4g} {unit}{cens}",
        f"reach      {s.get('reach', s['horizon'])} steps (last lag above the criterion + 1, "
        "gaps allowed)",
        f"capacity   {s['capacity']:.4g} steps",
        f"{'lag':>5} {'time':>9} {'score':>8} {'CI low':>8} {'CI high':>8} {'crit.':>8}  above",
    ]
    n = len(s["lags"])
    idx = set(np.unique(np.linspace(0, n - 1, min(n, n_rows)).round().astype(int)).tolist())
    idx |= {i for i in (s["horizon"] - 1, s["horizon"]) if 0 <= i < n}
    for i in sorted(idx):
        lines.append(
            f"{s['lags'][i]:>5} {s['lags'][i] * s['dt']:>9.4g} {s['score'][i]:>8.4f} "
            f"{s['ci_low'][i]:>8.4f} {s['ci_high'][i]:>8.4f} {s['criterion'][i]:>8.4f}  "
            f"{'yes' if s['above'][i] else 'no'}"
        )
    return "\n".join(lines)


def run(args) -> int:
    from wavescope.io import read_recording
    from wavescope.waves.memory import as_inputs, memory_curve_field

    json_out = check_output_path(args.json, args.overwrite)
    plot_out = check_output_path(args.plot, args.overwrite)
    field = read_recording(args.input)
    fields = field if isinstance(field, list) else [field]
    if args.input_channel is not None:
        pairs = [_split_channel(f, args.input_channel) for f in fields]
        fields = [f for f, _ in pairs]
        raw = np.stack([u for _, u in pairs])
        source = {"channel": args.input_channel}
    else:
        raw = np.asarray(_read_inputs(args.inputs))
        if raw.ndim == 1:
            raw = raw[None]
        source = {"file": os.fspath(args.inputs)}
    if raw.ndim != 2 or raw.shape[0] != len(fields):
        raise WaveInputError(
            f"the inputs have shape {np.shape(raw)} for {len(fields)} recording(s) of "
            f"{fields[0].n_times} samples: give shape ({fields[0].n_times},) for one recording"
            f" or ({len(fields)}, {fields[0].n_times}) for epochs."
        )
    u = as_inputs(raw, args.input_type)
    kw = dict(
        decoder=args.decoder,
        n_splits=args.splits,
        criterion_se=args.criterion_se,
        seed=args.seed,
    )
    if len(fields) == 1:
        curve = memory_curve_field(fields[0], u[0], args.max_lag, n_blocks=args.blocks, **kw)
    else:
        curve = memory_curve_field(fields, list(u), args.max_lag, **kw)
    summary = curve.summary()
    summary["meta"]["input"] = os.fspath(args.input)
    summary["meta"]["input_source"] = source
    print(f"memory curve of {args.input}: input from {next(iter(source.values()))}")
    print(format_curve(summary))
    if json_out:
        write_json(json_out, summary)
        print(f"wrote {json_out}")
    if plot_out:
        from wavescope.report.figures import plot_memory_curves

        plot_memory_curves({Path(args.input).stem: [summary]}, plot_out)
        print(f"wrote {plot_out}")
    return 0
