"""``wavescope calibrate INPUT``: how far the defaults can be trusted on this recording.

Simulates plane waves of known speed on the recording's own layout, sampling rate, band
and background (aperiodic exponent, spatial correlation, in-band SNR), runs the same
options on each and reports the expected bias, spread and detection power per speed
(:func:`wavescope.pipelines.calibrate.calibrate_recording`).
"""

from __future__ import annotations

from pathlib import Path

from wavescope.cli.options import (
    add_output_options,
    add_read_options,
    add_velocity_options,
    read_options,
    velocity_options,
)
from wavescope.io.outputs import check_output_path


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="expected bias, spread and detection power of the velocity defaults on a recording",
        description="Simulate waves of known speed with this recording's layout, sampling, "
        "band and background, run the same velocity options on each, and report the "
        "expected speed error and detection power per speed (with --plot, a figure).",
    )
    p.add_argument("input", help="one recording (MNE-readable or .npz)")
    add_velocity_options(p)
    add_read_options(p)
    add_output_options(p, plot="the calibration figure")
    g = p.add_argument_group("simulation")
    g.add_argument(
        "--wavelengths",
        type=float,
        nargs="+",
        default=None,
        metavar="X",
        help="true wavelengths simulated, in array extents (default: 0.5 1 2 5 10 20)",
    )
    g.add_argument(
        "--n-per-speed", type=int, default=5, help="simulated records per speed (default 5)"
    )
    g.add_argument(
        "--snr",
        type=float,
        default=None,
        metavar="DB",
        help="in-band SNR of the simulated waves (default: the recording's own)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from wavescope.core.validate import WaveInputError
    from wavescope.pipelines.calibrate import DEFAULT_WAVELENGTHS, calibrate_recording
    from wavescope.pipelines.outputs import save
    from wavescope.report.text import format_calibration

    if args.n_per_speed < 1:
        raise WaveInputError(f"--n-per-speed {args.n_per_speed}: give at least 1.")
    if args.wavelengths is not None and min(args.wavelengths) <= 0:
        raise WaveInputError("--wavelengths must be positive (array extents).")
    json_out = check_output_path(
        args.json, args.overwrite, allowed_suffixes=(".json",), suffix=".json",
        inputs=[args.input], option="--json",
    )  # fmt: skip
    plot_out = None
    if args.plot:
        from wavescope.report.figures import FIGURE_FORMATS

        plot_out = check_output_path(
            args.plot, args.overwrite, suffix=".png", allowed_suffixes=FIGURE_FORMATS,
            inputs=[args.input], option="--plot",
        )  # fmt: skip
    wavelengths = tuple(args.wavelengths) if args.wavelengths else DEFAULT_WAVELENGTHS
    total = len(wavelengths) * args.n_per_speed
    with tqdm(total=total, unit="record", desc="calibrate", leave=False, disable=None) as bar:
        result = calibrate_recording(
            args.input, velocity_options(args), read_options(args),
            wavelengths=wavelengths, n_per_speed=args.n_per_speed, snr_db=args.snr,
            seed=args.seed, progress=lambda done, n: bar.update(done - bar.n),
        )  # fmt: skip
    print(format_calibration(result))
    if json_out:
        save(json_out, result.to_json())
        print(f"wrote {json_out}")
    if plot_out:
        from wavescope.report.figures import calibration_figure, save_figure

        fig = calibration_figure(result, title=f"{Path(args.input).name}: calibration")
        save(plot_out, save_figure(fig, plot_out.suffix, dpi=110))
        print(f"wrote {plot_out}")
    return 0
