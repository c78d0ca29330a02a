"""``wavescope velocity INPUT...``: measure wave speed, direction, wavelength and PGD.

One file: its summary (``--json``, ``--plot``). Several files, a folder or a quoted glob:
one Dask task per recording (:func:`wavescope.pipelines.batch.measure_many`), a summary
table across recordings (``--table OUT.csv``, ``--json`` one entry per recording) and one
JSON per recording in ``--out-dir``, written as each recording finishes; ``--resume`` goes
on with an interrupted batch from those files. A failing recording is reported by name,
the others still finish, and the exit code is 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wavescope.cli.options import (
    add_output_options,
    add_read_options,
    add_velocity_options,
    read_options,
    velocity_options,
)
from wavescope.core.validate import WaveInputError
from wavescope.io.outputs import check_output_path


def register(sub) -> None:
    p = sub.add_parser(
        "velocity",
        help="measure traveling waves in a recording or hidden-state capture",
        description="Measure wave speed, direction, wavelength, PGD and wave epochs. INPUT is "
        "any file MNE reads (FIF, EDF, BDF, BrainVision, ...) or an interchange .npz; several "
        "inputs, a folder or a quoted glob ('data/*.npz') run one Dask task per recording.",
    )
    p.add_argument(
        "input",
        nargs="+",
        help="recording(s) (MNE-readable or .npz), folder(s), or quoted glob pattern(s)",
    )
    add_velocity_options(p)
    add_read_options(p)
    add_output_options(p, plot="a summary figure (one input only)")
    g = p.add_argument_group("many recordings (several inputs, a folder or a glob)")
    g.add_argument("--table", metavar="OUT.csv", help="write the summary table as CSV")
    g.add_argument(
        "--out-dir",
        metavar="DIR",
        help="write one summary JSON per recording, each as soon as it is finished (with "
        "the options it was measured with)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="go on with an interrupted batch: keep the recordings already finished in "
        "--out-dir (measured with the same options; others are refused) and measure only "
        "the rest; --table and --json then cover all of them",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="NAME|ADDRESS",
        help="Dask scheduler: threads (default), processes, synchronous, or the address of a "
        "running dask.distributed scheduler, e.g. tcp://host:8786 (pip install "
        "'wavescope[cluster]')",
    )
    g.add_argument(
        "--workers", type=int, default=None, help="threads/processes of the local scheduler"
    )
    p.set_defaults(func=run)


def _plot_path(args, inputs):
    from wavescope.report.figures import FIGURE_FORMATS

    return check_output_path(
        args.plot,
        args.overwrite,
        suffix=".png",
        allowed_suffixes=FIGURE_FORMATS,
        inputs=inputs,
        option="--plot",
    )


def run(args) -> int:
    from wavescope.pipelines.batch import is_batch

    if is_batch(args.input):
        return run_many(args)
    for opt in ("table", "out_dir", "scheduler", "workers", "resume"):
        if getattr(args, opt) not in (None, False):
            raise WaveInputError(
                f"--{opt.replace('_', '-')} is for many recordings (several inputs, a folder "
                "or a glob); for one recording use --json and --plot."
            )
    (path,) = args.input
    vel, read = velocity_options(args), read_options(args)
    json_out = check_output_path(
        args.json, args.overwrite, allowed_suffixes=(".json",), suffix=".json",
        inputs=[path], option="--json",
    )  # fmt: skip
    plot_out = _plot_path(args, [path])

    from tqdm import tqdm

    from wavescope.pipelines.outputs import save
    from wavescope.pipelines.recording import measure_recording
    from wavescope.report.text import format_summary

    with tqdm(total=1, unit="sample", unit_scale=True, desc="velocity", leave=False,
              disable=None) as bar:  # fmt: skip

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        rec = measure_recording(path, vel, read, progress=progress)
    print(format_summary(rec.summary))
    if json_out:
        save(json_out, rec.summary.to_json())
        print(f"wrote {json_out}")
    if plot_out:
        from wavescope.report.figures import save_figure, velocity_figure

        fig = velocity_figure(
            rec.result, title=f"{Path(path).name}: {rec.result.method}", summary=rec.summary
        )
        save(plot_out, save_figure(fig, plot_out.suffix, dpi=110))
        print(f"wrote {plot_out}")
    return 0


def run_many(args) -> int:
    from tqdm import tqdm

    from wavescope.pipelines.batch import (
        TABLE_COLUMNS,
        batch_json,
        check_scheduler,
        find_recordings,
        measure_many,
        result_paths,
        summary_rows,
    )
    from wavescope.pipelines.outputs import save, save_table
    from wavescope.report.text import format_table

    if args.plot:
        raise WaveInputError("--plot is for one recording; run it on that file alone.")
    if args.resume and not args.out_dir:
        raise WaveInputError(
            "--resume reads the recordings finished by an earlier run from its --out-dir: "
            "give that --out-dir."
        )
    check_scheduler(args.scheduler, args.workers)
    vel, read = velocity_options(args), read_options(args)
    files = find_recordings(args.input)
    json_out = check_output_path(
        args.json, args.overwrite, allowed_suffixes=(".json",), suffix=".json", inputs=files,
        option="--json",
    )  # fmt: skip
    table_out = check_output_path(
        args.table, args.overwrite, allowed_suffixes=(".csv",), suffix=".csv", inputs=files,
        option="--table",
    )  # fmt: skip
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        per_rec = result_paths(files, out_dir, overwrite=args.overwrite, resume=args.resume)
        clash = set(per_rec) & {p for p in (json_out, table_out) if p}
        if clash:
            raise WaveInputError(f"{sorted(clash)[0]} would be written twice; rename an output.")
    kept = {"written": 0, "resumed": 0}  # written to out_dir by this run, read back

    def progress(done, total, rec):
        bar.update(done - bar.n)
        if rec.ok:
            kept["resumed" if rec.resumed else "written"] += 1

    try:
        with tqdm(total=len(files), unit="recording", desc="velocity", leave=False) as bar:
            records = measure_many(
                files, vel, read, scheduler=args.scheduler, workers=args.workers,
                progress=progress, out_dir=out_dir, resume=args.resume,
                overwrite=args.overwrite,
            )  # fmt: skip
    except WaveInputError:  # refused before it started (e.g. --resume with other options)
        raise
    except BaseException:  # Ctrl-C, SystemExit, a disk that fills up: say what was kept
        print(_interrupted_note(out_dir, sum(kept.values()), len(files)), file=sys.stderr)
        raise
    rows = summary_rows(records)
    print(format_table(rows))
    if out_dir is not None:
        print(f"wrote {kept['written']} summaries to {out_dir} (each as it finished)")
        if kept["resumed"]:
            print(f"kept {kept['resumed']} summaries finished by an earlier run (--resume)")
    if json_out:
        save(json_out, batch_json(records))
        print(f"wrote {json_out}")
    if table_out:
        save_table(table_out, rows, TABLE_COLUMNS)
        print(f"wrote {table_out}")
    failed = [r for r in records if not r.ok]
    for r in failed:
        print(f"wavescope velocity: {r.input} failed: {r.error}", file=sys.stderr)
    if failed:
        print(
            f"wavescope velocity: {len(failed)} of {len(records)} recording(s) failed"
            + ("; --resume measures only them again" if out_dir is not None else ""),
            file=sys.stderr,
        )
    return 1 if failed else 0


def _interrupted_note(out_dir: Path | None, n_kept: int, total: int) -> str:
    if out_dir is None:
        return (
            f"wavescope velocity: stopped before the end: no result kept of {total} "
            "recordings (without --out-dir nothing is written before the end); pass "
            "--out-dir DIR to keep each recording as it finishes, then --resume to skip them."
        )
    return (
        f"wavescope velocity: stopped before the end: {n_kept} of {total} recording(s) "
        f"finished and kept in {out_dir}; run the same command with --resume to measure "
        "only the others."
    )
