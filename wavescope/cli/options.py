"""Argument groups shared by several commands, written once.

- :func:`add_velocity_options` / :func:`velocity_options`: band, method and the options of
  ``measure_velocity`` (``velocity``, ``compare``);
- :func:`add_read_options` / :func:`read_options`: picks, projection, extra bad channels;
- :func:`add_output_options`: ``--json``, ``--plot``, ``--overwrite``;
- :func:`require_torch`: the model commands' check that torch is installed.
"""

from __future__ import annotations

import argparse

from wavescope.core.errors import MissingDependencyError

__all__ = [
    "add_output_options",
    "add_read_options",
    "add_velocity_options",
    "read_options",
    "require_torch",
    "velocity_options",
]


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return v


def add_velocity_options(p: argparse.ArgumentParser, *, band: bool = True) -> None:
    """Band, method and measuring options (shared by ``velocity`` and ``compare``)."""
    # waves.result, not waves.velocity: velocity imports scipy.signal, most of --help's time
    from wavescope.waves.result import BROADBAND_METHODS, PHASE_METHODS

    g = p.add_argument_group("measuring")
    if band:
        g.add_argument(
            "--band",
            nargs=2,
            type=float,
            metavar=("LO", "HI"),
            help="pass band in cycles per time unit (Hz); default: around the dominant "
            "spectral peak. With --method auto a band follows the phase of its oscillation, "
            "unless it spans an octave or more on a broadband transient (an impulse "
            "response): then k-omega, xcorr or event times",
        )
    g.add_argument(
        "--method",
        default=None,
        choices=("auto",) + PHASE_METHODS + BROADBAND_METHODS,  # velocity.METHODS
        help="velocity method (default auto: chosen from the data, k-omega for model states "
        "on a line, phase-gradient for narrowband oscillations or a given band (not a band "
        "of an octave or more on a broadband transient), event times or lags for other "
        "broadband fields)",
    )
    g.add_argument(
        "--generalized",
        action="store_true",
        default=None,
        help="generalized phase (Davis et al. 2020; default: off, on with a reader's wide "
        "band, e.g. widefield 0.1-5 Hz)",
    )
    g.add_argument(
        "--alpha",
        type=_probability,
        default=0.05,
        help="false-positive rate per sample of the wave-epoch threshold (0 < alpha < 1)",
    )
    g.add_argument(
        "--n-surrogates",
        type=_nonneg_int,
        default=None,
        metavar="N",
        help="null fields for the wave-epoch threshold (default: enough for 20/alpha "
        "independent null samples; 0: no epochs)",
    )
    g.add_argument(
        "--decimate",
        type=_positive_int,
        default=None,
        help="read-out step in samples (default: 4 samples per cycle of the band top)",
    )
    g.add_argument(
        "--chunk-samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="longest piece filtered at once, in samples (bounds memory; default: 2^21, at "
        "most 512 MB of float64 over the sites)",
    )
    g.add_argument(
        "--summary-of",
        choices=("auto", "all", "waves"),
        default="auto",
        help="samples the summary describes: wave epochs (auto, when there are any), or all",
    )
    b = p.add_argument_group("broadband methods (event-time, xcorr)")
    b.add_argument(
        "--max-lag",
        type=_positive_int,
        default=None,
        metavar="SAMPLES",
        help="xcorr: largest lag searched, in samples (default: from the band or the signal)",
    )
    b.add_argument(
        "--event-threshold",
        type=_probability,
        default=None,
        metavar="FRACTION",
        help="event-time: event level as a fraction of each site's largest excursion (default 0.5)",
    )
    b.add_argument(
        "--min-sites",
        type=_positive_int,
        default=None,
        metavar="N",
        help="event-time: fewest sites an event must reach (default: half the good sites)",
    )


def velocity_options(args):
    """A :class:`~wavescope.pipelines.recording.VelocityOptions` from parsed arguments."""
    from wavescope.pipelines.recording import VelocityOptions

    extra = {"generalized": args.generalized, "alpha": args.alpha}
    for opt, key in (("n_surrogates", "n_surrogates"), ("decimate", "decimate"),
                     ("chunk_samples", "chunk_samples")):  # fmt: skip
        if getattr(args, opt, None) is not None:
            extra[key] = getattr(args, opt)
    bb = {}
    if args.max_lag is not None:
        bb["max_lag"] = args.max_lag
    if args.event_threshold is not None:
        bb["threshold"] = args.event_threshold
    if args.min_sites is not None:
        bb["min_sites"] = args.min_sites
    if bb:
        extra["broadband"] = bb
    band = getattr(args, "band", None)
    return VelocityOptions(
        band=tuple(band) if band else None,
        method=args.method,
        summary_of=args.summary_of,
        extra=extra,
    )


def add_read_options(p: argparse.ArgumentParser) -> None:
    """How recordings are read (MNE formats)."""
    g = p.add_argument_group("reading")
    g.add_argument(
        "--projection",
        default="default",
        choices=("default", "plane", "sphere", "auto", "none"),
        help="projection of 3-D positions onto a surface (default: the reader's own: plane "
        "for MNE montages, auto for NWB electrode tables)",
    )
    g.add_argument(
        "--picks",
        default=None,
        metavar="CH[,CH]",
        help="channels to use, by name (any input) or MNE channel type (e.g. ecog or "
        "seeg,ecog; MNE and BIDS inputs only)",
    )
    g.add_argument("--bad", nargs="*", default=(), metavar="CH", help="extra channels to mark bad")
    g.add_argument(
        "--series", default=None, metavar="NAME", help="NWB: the acquisition series to read"
    )
    for opt in ("subject", "session", "task", "run"):
        g.add_argument(
            f"--bids-{opt}", default=None, metavar=opt.upper(),
            help=f"BIDS root: the {opt} to read",
        )  # fmt: skip
    g.add_argument(
        "--electrode-map", default=None, metavar="FILE",
        help="Blackrock .ns*: channel,row,col map (CSV/TSV) or .cmp file",
    )  # fmt: skip
    g.add_argument(
        "--pitch", type=float, default=None, metavar="M",
        help="Blackrock .ns*: electrode pitch in metres (default 0.0004, Utah arrays)",
    )  # fmt: skip
    w = p.add_argument_group(
        "frame stacks (widefield .npz, TIFF, HDF5, NWB imaging; detected from the file)"
    )
    w.add_argument(
        "--mask", choices=("cortex", "all"), default="cortex",
        help="pixels kept: the cortex (Otsu threshold of the mean image) or all",
    )  # fmt: skip
    w.add_argument(
        "--background", choices=("dff", "none"), default="dff",
        help="background removal: dF/F against each pixel's mean, or none",
    )  # fmt: skip
    w.add_argument("--bin", type=_positive_int, default=2, metavar="N",
                   help="average N x N pixel blocks into one site (default 2)")  # fmt: skip
    w.add_argument("--no-detrend", action="store_true", help="keep linear trends")
    w.add_argument("--fs", type=float, default=None, metavar="HZ",
                   help="TIFF/HDF5 without metadata: frame rate")  # fmt: skip
    w.add_argument("--pixel-size", type=float, default=None, metavar="M",
                   help="TIFF/HDF5/NWB without metadata: pixel size in metres")  # fmt: skip


def read_options(args):
    """A :class:`~wavescope.pipelines.recording.ReadOptions` from parsed arguments."""
    from wavescope.io.widefield import WidefieldOptions
    from wavescope.pipelines.recording import ReadOptions

    picks = None
    if args.picks:
        picks = [p.strip() for p in args.picks.split(",") if p.strip()]
    options = {}
    names = {
        "series": "series",
        "bids_subject": "subject",
        "bids_session": "session",
        "bids_task": "task",
        "bids_run": "run",
        "electrode_map": "electrode_map",
        "pitch": "pitch_m",
        "fs": "fs_hz",
        "pixel_size": "pixel_size_m",
    }
    for opt, key in names.items():
        if getattr(args, opt, None) is not None:
            options[key] = getattr(args, opt)
    widefield = WidefieldOptions(
        mask=args.mask,
        background=args.background,
        bin_factor=args.bin,
        detrend=not args.no_detrend,
    )
    return ReadOptions(
        picks=picks,
        projection=None if args.projection == "none" else args.projection,
        bad=tuple(args.bad),
        widefield=None if widefield == WidefieldOptions() else widefield,
        options=options,
    )


def add_output_options(p: argparse.ArgumentParser, *, plot: str | None = None) -> None:
    """``--json``, ``--plot`` (with what it draws) and ``--overwrite``."""
    g = p.add_argument_group("outputs")
    g.add_argument("--json", metavar="OUT.json", help="write the result as JSON")
    if plot:
        g.add_argument("--plot", metavar="OUT.png", help=f"write {plot} (.png, .svg or .pdf)")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")


def require_torch(command: str) -> None:
    """Exit 2 with a message naming the extra when torch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            f"'wavescope {command}' needs torch, which is not installed: "
            'pip install "wavescope[models]" (for a CPU-only torch first: pip install torch '
            "--index-url https://download.pytorch.org/whl/cpu)."
        ) from None
