"""Figures of wave measurements, comparisons, learning and memory (matplotlib, Agg).

Every function takes results already computed (a :class:`~wavescope.core.field.WaveField`,
a velocity result with its phase snapshot, the figure data of a comparison, learning runs,
memory-curve summaries) and returns a :class:`matplotlib.figure.Figure`; nothing is
measured or recomputed here. :func:`save_figure` is the one way a figure becomes bytes
(PNG, SVG or PDF); writing the bytes to a file is the caller's (pipelines) job.
:func:`phase_animation` returns the bytes of a small animated GIF of phase maps.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = [
    "FIGURE_FORMATS",
    "direction_figure",
    "learning_figure",
    "pgd_figure",
    "phase_animation",
    "phase_map_figure",
    "plot_memory_curves",
    "properties_figure",
    "save_figure",
    "spacetime_figure",
    "speed_figure",
    "velocity_figure",
]

#: Suffixes :func:`save_figure` writes.
FIGURE_FORMATS = (".png", ".svg", ".pdf")


#: Text sizes (pt): nothing under 9 pt, so that a figure shown at its own size in a
#: 1366 px window stays readable.
FONT = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
}
#: Figures of the report's findings are drawn this wide (in) at REPORT_DPI, the width of
#: the page's figure column, so that they are shown at their own size.
FINDING_WIDTH = 8.2
REPORT_DPI = 90
#: Lines per panel above which each line is drawn thin and grey under a summary line.
MAX_LINES = 4


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(FONT)
    return plt


def group_colours(groups) -> dict:
    """One colour per group, the same in every figure of a report (tab10 by order)."""
    return {g: f"C{i % 10}" for i, g in enumerate(groups)}


def _colour(colours: dict | None, g, i: int) -> str:
    return (colours or {}).get(g, f"C{i % 10}")


def _legend(ax, **kw) -> None:
    """A legend only when something is labelled (matplotlib warns on an empty one)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kw)


def _space(values, unit: str):
    """Positions for an axis: metres at millimetre scale (a cortical extent, under 1 m) are shown
    in mm. Returns ``(values, unit, factor)``."""
    v = np.asarray(values, float)
    finite = v[np.isfinite(v)]
    if unit == "m" and finite.size and np.ptp(finite) < 1.0:
        return v * 1e3, "mm", 1e3
    return v, unit, 1.0


def save_figure(fig, fmt: str = "png", *, dpi: int = 100) -> bytes:
    """The figure as bytes in ``fmt`` (``"png"``, ``"svg"`` or ``"pdf"``); closes it."""
    plt = _plt()
    fmt = fmt.lower().lstrip(".")
    if "." + fmt not in FIGURE_FORMATS:
        plt.close(fig)
        from wavescope.core.validate import WaveInputError

        raise WaveInputError(
            f"figure format {fmt!r} is not supported; use one of {', '.join(FIGURE_FORMATS)}."
        )
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _png(fig, dpi=90) -> bytes:
    return save_figure(fig, "png", dpi=dpi)


def _grid(n, size=(3.6, 3.0), cols=3):
    plt = _plt()
    cols = max(1, min(n, cols))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _label(text: str) -> str:
    """Text safe from matplotlib's mathtext ($...$ in file names)."""
    return str(text).replace("$", r"\$")


# ------------------------------------------------------------------ space-time


def _spacetime_axes(ax, field, *, speed=None, learned=None, title=None, origin=None):
    order = np.argsort(field.positions[:, 0], kind="stable")
    good = ~np.asarray(field.bad)[order]
    data = np.asarray(field.data)[order]
    x, su, k = _space(field.positions[order, 0], field.space_unit)
    t = field.times
    finite = np.abs(data[good][np.isfinite(data[good])]) if good.any() else np.zeros(1)
    lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    dt = 1.0 / field.fs
    dx = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    im = ax.imshow(
        data,
        aspect="auto",
        origin="lower",
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        extent=(t[0] - dt / 2, t[-1] + dt / 2, x[0] - dx / 2, x[-1] + dx / 2),
        interpolation="nearest",
    )
    # a line through the strongest response: at the time of the peak of the first site
    row0 = np.abs(data[0]) if data.shape[0] else np.zeros(1)
    t0 = float(t[int(np.argmax(row0))]) if row0.size else 0.0
    if origin is not None:
        t0 = float(origin[0])
    tt = np.array([t[0], t[-1]])
    shown_unit = f"{su}/{field.time_unit}"
    for v, style, name in ((speed, "k--", "measured"), (learned, "g:", "learned")):
        if v is not None and np.isfinite(v) and v > 0:
            ax.plot(tt, x[0] + k * v * (tt - t0), style, lw=1.4,
                    label=f"{name} {k * v:.3g} {shown_unit}")  # fmt: skip
    if speed is not None or learned is not None:
        ax.set_ylim(x[0] - dx / 2, x[-1] + dx / 2)
        ax.set_xlim(t[0] - dt / 2, t[-1] + dt / 2)
        _legend(ax, loc="upper left", framealpha=0.8)
    ax.set_xlabel(f"time ({field.time_unit})")
    ax.set_ylabel(f"position ({su})")
    if title is None:
        m = field.meta
        parts = [
            str(m[k]) if k == "model" else f"{k} {m[k]}"
            for k in ("model", "layer", "part", "channel")
            if m.get(k) is not None
        ]
        title = ", ".join(parts) or "space-time"
    ax.set_title(_label(title))
    return im


def spacetime_figure(field, *, title=None, speed=None, learned=None, origin=None):
    """Space-time image of a field (sites sorted by x against time, colour = value).

    Parameters
    ----------
    field : WaveField
        Sites on a line (1-D positions); for 2-D layouts the sites are drawn in order of x.
    speed, learned : float, optional
        A measured and a learned (or true) speed, ``space_unit / time_unit``, drawn as
        lines through ``origin``.
    origin : (float, float), optional
        ``(t, x)`` in ``time_unit`` and ``space_unit`` the lines pass through (default: the
        first site's strongest sample).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    im = _spacetime_axes(ax, field, speed=speed, learned=learned, title=title, origin=origin)
    fig.colorbar(im, ax=ax, label="value")
    return fig


def spacetime_panels(panels: dict, labels: dict | None = None):
    """Several space-time images: ``{group: (field, speed, learned)}`` (titles from
    ``labels``, ``{group: text}``), up to 2 per row at the report's figure width."""
    labels = labels or {}
    cols = min(len(panels), 2)
    fig, axes = _grid(len(panels), size=(FINDING_WIDTH / cols, 3.2), cols=cols)
    for ax, (g, (f, sp, le)) in zip(axes, panels.items()):
        _spacetime_axes(ax, f, speed=sp, learned=le, title=labels.get(g, g))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ phase maps


def _phase_axes(ax, snap, frame, space_unit, *, arrows=True, colorbar=True, time_unit=""):
    """A phase map at ``frame`` on a surface; on a line, the phase of every frame as a
    space-time image (position against time, the frame drawn marked): a line's phase at
    one instant wraps into a zig-zag that reads as noise, its stripes over time do not."""
    pos, su, k = _space(snap.positions, space_unit)
    if pos.shape[1] >= 2:
        phase = snap.phase[:, frame]
        span = max(np.ptp(pos[:, 0]), np.ptp(pos[:, 1]), 1e-12)
        s = max(6.0, 9000.0 / max(len(pos), 1))
        sc = ax.scatter(
            pos[:, 0], pos[:, 1], c=phase, cmap="twilight", vmin=-np.pi, vmax=np.pi, s=s,
            marker="s", linewidths=0,
        )  # fmt: skip
        if arrows and snap.velocity is not None:
            v = snap.velocity[:, :, frame]
            mag = np.linalg.norm(v, axis=1)
            ok = np.isfinite(mag) & (mag > 0)
            step = max(1, int(np.sqrt(len(pos) / 150)))
            idx = np.flatnonzero(ok)[::step]
            if idx.size:
                u = v[idx] / mag[idx, None]
                ax.quiver(
                    pos[idx, 0], pos[idx, 1], u[:, 0], u[:, 1], angles="xy", scale_units="xy",
                    scale=1.0 / (0.06 * span), width=0.004, color="k", alpha=0.7,
                )  # fmt: skip
        ax.set_aspect("equal")
        ax.set_ylabel(f"y ({su})")
        ax.set_xlabel(f"x ({su})")
        if colorbar:
            ax.figure.colorbar(sc, ax=ax, label="phase (rad)", fraction=0.046)
        return
    order = np.argsort(pos[:, 0], kind="stable")
    x = pos[order, 0]
    t = np.asarray(snap.times, float)
    dx = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    im = ax.imshow(
        snap.phase[order], aspect="auto", origin="lower", cmap="twilight", vmin=-np.pi,
        vmax=np.pi, interpolation="nearest",
        extent=(t[0] - dt / 2, t[-1] + dt / 2, x[0] - dx / 2, x[-1] + dx / 2),
    )  # fmt: skip
    ax.axvline(t[frame], color="k", lw=0.8, ls=":")
    ax.set_xlabel(f"time ({time_unit})" if time_unit else "time")
    ax.set_ylabel(f"position ({su})")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="phase (rad)", fraction=0.046)


def phase_map_figure(snapshots: dict, units: dict | None = None, labels: dict | None = None):
    """Phase maps at the most wave-like sample, with the phase-velocity vector field (on
    lines: the phase over the snapshot's samples as a space-time image).

    Parameters
    ----------
    snapshots : dict
        ``{group: PhaseSnapshot}``.
    units : dict, optional
        ``{group: (space_unit, time_unit)}`` for the axes.
    labels : dict, optional
        ``{group: title}``.
    """
    units, labels = units or {}, labels or {}
    cols = min(len(snapshots), 2)
    fig, axes = _grid(len(snapshots), size=(FINDING_WIDTH / cols, 3.4), cols=cols)
    for ax, (g, snap) in zip(axes, snapshots.items()):
        su, tu = units.get(g, ("", ""))
        _phase_axes(ax, snap, snap.best, su, time_unit=tu)
        where = "" if snap.positions.shape[1] >= 2 else "dotted "
        ax.set_title(_label(f"{labels.get(g, g)}: {where}t = {snap.times[snap.best]:.4g} {tu}"))
    fig.tight_layout()
    return fig


def phase_animation(snapshot, *, space_unit: str = "", time_unit: str = "", title: str = "",
                    size: float = 3.2, dpi: int = 70, frame_ms: int = 120) -> bytes:  # fmt: skip
    """An animated GIF (bytes) of the phase map over the snapshot's frames.

    The frames are the read-out samples around the most wave-like one (a wave epoch's
    propagation); arrows show the local direction of propagation on 2-D layouts.
    """
    from PIL import Image

    plt = _plt()
    frames = []
    for i in range(snapshot.phase.shape[1]):
        fig, ax = plt.subplots(figsize=(size, size))
        _phase_axes(ax, snapshot, i, space_unit, colorbar=False)
        ax.set_title(_label(f"{title} t = {snapshot.times[i]:.4g} {time_unit}"), fontsize=9)
        fig.tight_layout()
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        frames.append(Image.fromarray(rgba[..., :3]).convert("P", palette=Image.ADAPTIVE))
        plt.close(fig)
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0,
        optimize=True,
    )  # fmt: skip
    return buf.getvalue()


# ------------------------------------------------------------------ distributions


def pgd_figure(series: dict, *, medians: dict | None = None, colours: dict | None = None,
               labels: dict | None = None):  # fmt: skip
    """PGD over time, one panel per group, one line per recording.

    ``series``: ``{group: [(times, pgd, threshold or None, time_unit), ...]}``;
    ``medians``: ``{group: (times, median PGD)}``. A panel of more than
    :data:`MAX_LINES` recordings draws them thin and grey under the median line.
    """
    medians, labels = medians or {}, labels or {}
    cols = min(len(series), 3)
    fig, axes = _grid(len(series), size=(12.0 / cols, 2.8), cols=cols)
    for i, (ax, (g, recs)) in enumerate(zip(axes, series.items())):
        col = _colour(colours, g, i)
        many = len(recs) > MAX_LINES and g in medians
        for t, pgd, _, tu in recs:
            if many:
                ax.plot(t, pgd, lw=0.5, color="0.7")
            else:
                ax.plot(t, pgd, lw=0.8, alpha=0.85, color=col)
            ax.set_xlabel(f"time ({tu})")
        if many:
            t, m = medians[g]
            ax.plot(t, m, lw=1.6, color=col, label=f"median of {len(recs)}")
        thr = [r[2] for r in recs if r[2] is not None and np.isfinite(r[2])]
        if thr:
            ax.axhline(np.median(thr), color="k", ls="--", lw=0.8, label="epoch threshold")
        _legend(ax, loc="lower right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("PGD")
        ax.set_title(_label(f"{labels.get(g, g)} ({len(recs)} recordings)"))
    fig.tight_layout()
    return fig


def speed_figure(speeds: dict, unit: str, *, reference=None, marks: dict | None = None,
                 colours: dict | None = None, labels: dict | None = None):  # fmt: skip
    """Distributions of speeds per group: the fraction of each group's estimates per
    decade of speed (log-spaced bins), so that on the log axis every group and the
    reference enclose the same area whatever its spread or count (a density per unit
    speed would make a narrow group tower over a wide one by orders of magnitude).

    Parameters
    ----------
    speeds : dict
        ``{group: speeds (n,)}`` in ``unit``.
    reference : (speed (m,), density (m,), label), optional
        A reference density drawn over the histograms (same unit).
    marks : dict, optional
        ``{label: value}`` vertical lines (e.g. a learned velocity).
    colours, labels : dict, optional
        ``{group: colour}`` and ``{group: legend text}``.
    """
    plt = _plt()
    labels = labels or {}
    fig, ax = plt.subplots(figsize=(FINDING_WIDTH, 3.6))
    # the bins span every group's own 1-99% range, so that a small group (a few
    # k-omega estimates) is never left outside the bins of a large one
    vals = [np.asarray(v, float) for v in speeds.values()]
    vals = [v[np.isfinite(v) & (v > 0)] for v in vals]
    ranges = [np.quantile(v, [0.01, 0.99]) for v in vals if v.size] or [np.ones(2)]
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if reference is not None:
        lo, hi = min(lo, 0.02), max(hi, 2.0)
    bins = np.geomspace(lo / 1.5, hi * 1.5, 40)
    decade = float(np.log10(bins[1] / bins[0]))  # width of every bin, decades
    for i, (g, v) in enumerate(speeds.items()):
        v = np.asarray(v, float)
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            ax.hist(v, bins=bins, weights=np.full(v.size, 1.0 / (v.size * decade)),
                    histtype="step", lw=1.6, color=_colour(colours, g, i),
                    label=_label(f"{labels.get(g, g)} (n={v.size})"))  # fmt: skip
    if reference is not None:
        s, d, label = reference
        s, d = np.asarray(s, float), np.asarray(d, float)
        ax.plot(s, d * s * np.log(10.0), "k-", lw=1.2, label=label)  # per decade
    for i, (label, v) in enumerate((marks or {}).items()):
        ax.axvline(v, color=f"C{i}", ls=":", lw=1.2, label=_label(label))
    if not ax.get_legend_handles_labels()[0]:
        ax.text(0.5, 0.5, "no group has speeds from 3 or more recordings", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"speed ({unit})")
    ax.set_ylabel("fraction per decade")
    _legend(ax)
    fig.tight_layout()
    return fig


def direction_figure(directions: dict, forward: dict | None = None, *,
                     colours: dict | None = None, labels: dict | None = None):  # fmt: skip
    """Rose histograms of directions (rad, CCW from +x) of 2-D groups, and the forward
    fraction per recording of 1-D groups (on a line only forward and backward exist)."""
    plt = _plt()
    forward, labels = forward or {}, labels or {}
    order = list(dict.fromkeys(list(directions) + list(forward)))
    n = len(directions) + (1 if forward else 0)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = plt.figure(figsize=(FINDING_WIDTH, 3.0 * rows))
    for i, (g, d) in enumerate(directions.items()):
        ax = fig.add_subplot(rows, cols, i + 1, projection="polar")
        d = np.asarray(d, float)
        d = d[np.isfinite(d)]
        if d.size:
            h, e = np.histogram(d, bins=24, range=(-np.pi, np.pi))
            ax.bar(e[:-1], h / h.sum(), width=np.diff(e), align="edge", alpha=0.7,
                   color=_colour(colours, g, order.index(g)))  # fmt: skip
        else:
            ax.text(0.5, 0.5, "no direction", ha="center", transform=ax.transAxes)
        ax.set_title(_label(labels.get(g, g)))
        ax.set_yticklabels([])
    if forward:
        ax = fig.add_subplot(rows, cols, len(directions) + 1)
        for i, (g, f) in enumerate(forward.items()):
            f = np.asarray(f, float)
            ax.plot(np.full(f.size, i) + np.linspace(-0.15, 0.15, f.size), f, "o", ms=5,
                    color=_colour(colours, g, order.index(g)))  # fmt: skip
        ax.set_xticks(range(len(forward)), [_label(labels.get(g, g)) for g in forward],
                      rotation=15)  # fmt: skip
        ax.set_ylim(-0.05, 1.05)
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_ylabel("forward fraction")
        ax.set_title("lines: fraction travelling forward")
    fig.tight_layout()
    return fig


def properties_figure(values: dict, units: dict, *, colours: dict | None = None,
                      labels: dict | None = None):  # fmt: skip
    """One value per recording, per group, for each property (strip plots).

    ``values``: ``{property: {group: values (n,)}}``; ``units``: ``{property: unit}``.
    """
    labels = labels or {}
    fig, axes = _grid(len(values), size=(3.1, 2.8), cols=4)
    order = list(dict.fromkeys(g for byg in values.values() for g in byg))
    for ax, (prop, byg) in zip(axes, values.items()):
        for i, (g, v) in enumerate(byg.items()):
            v = np.asarray(v, float)
            ax.plot(np.full(v.size, i) + np.linspace(-0.1, 0.1, v.size), v, "o", ms=5,
                    color=_colour(colours, g, order.index(g)))  # fmt: skip
        ax.set_xticks(range(len(byg)), [_label(g) for g in byg], rotation=20)
        unit = units.get(prop, "")
        ax.set_title(f"{prop}" + (f" ({unit})" if unit and unit != "1" else ""))
    fig.tight_layout()
    return fig


def learning_figure(runs: list, *, colours: dict | None = None, labels: dict | None = None,
                    chance: float | None = None, medians: dict | None = None):  # fmt: skip
    """Learning curves: loss and exact-string accuracy against step and wall time.

    ``runs``: learning runs with ``group``, ``label`` and ``records`` (the train lines of
    ``metrics.jsonl``: ``step``, ``loss``, ``exact_acc``, ``time``), one line per run
    (seed), one colour per group; ``chance``: the chance loss, drawn dashed;
    ``medians``: ``{group: (steps, loss, exact accuracy)}``, drawn thick over thin runs
    when more than :data:`MAX_LINES` runs share a panel.
    """
    plt = _plt()
    labels, medians = labels or {}, medians or {}
    fig, axes = plt.subplots(2, 2, figsize=(FINDING_WIDTH, 5.8))
    groups = list(dict.fromkeys(r.group for r in runs))
    many = len(runs) > MAX_LINES
    for g, (st, lo, ac) in medians.items() if many else ():
        if g in groups:
            col = _colour(colours, g, groups.index(g))
            n = sum(r.group == g for r in runs)
            axes[0, 0].plot(st, lo, color=col, lw=2.4, label=f"{labels.get(g, g)}, median of {n}")
            axes[0, 1].plot(st, ac, color=col, lw=2.4)
    for r in runs:
        col = _colour(colours, r.group, groups.index(r.group))
        recs = r.records
        step = [x["step"] for x in recs]
        wall = [x.get("time", np.nan) for x in recs]
        loss = [x["loss"] for x in recs]
        acc = [x.get("exact_acc", np.nan) for x in recs]
        lab = _label(labels.get(r.group, r.group))
        thin = many and r.group in medians
        for ax, x, y in ((axes[0, 0], step, loss), (axes[0, 1], step, acc),
                         (axes[1, 0], wall, loss), (axes[1, 1], wall, acc)):  # fmt: skip
            ax.plot(x, y, color=col, lw=0.7 if thin else 1.2, alpha=0.45 if thin else 0.85,
                    label=None if thin else lab)  # fmt: skip
    losses = [x["loss"] for r in runs for x in r.records if x.get("loss")]
    wide = bool(losses) and max(losses) > 10 * min(losses)  # log only over a decade
    for ax in axes[:, 0]:
        if wide:
            ax.set_yscale("log")
        ax.set_ylabel("training loss")
        if chance is not None:
            ax.axhline(chance, color="0.4", lw=0.9, ls="--", label=f"chance {chance:.3g}")
    for ax in axes[:, 1]:
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.95, color="0.6", lw=0.8, ls="--")
        ax.set_ylabel("exact-string accuracy")
    for ax in axes[0]:
        ax.set_xlabel("step")
    for ax in axes[1]:
        ax.set_xlabel("wall time (s)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    uniq = dict(zip(names, handles))
    if uniq:
        axes[0, 0].legend(uniq.values(), uniq.keys())
    fig.tight_layout()
    return fig


def velocity_figure(result, *, title: str | None = None, summary=None):
    """Four panels of one measurement: the phase map at the most wave-like sample (with
    the phase-velocity field), PGD over time with the epoch threshold and epochs, the
    speed distribution and the direction distribution (forward fraction on a line).

    Parameters
    ----------
    result : VelocityResult
        From :func:`wavescope.waves.measure_velocity` (its ``snapshot`` is drawn).
    summary : RecordingSummary, optional
        Its typed summary (``result.summarise()`` when not given): the forward fraction
        drawn on a line is the summary's, over all valid samples.
    """
    plt = _plt()
    fig = plt.figure(figsize=(11, 7.6))
    ax = fig.add_subplot(2, 2, 1)
    snap = result.snapshot
    if snap is not None:
        _phase_axes(ax, snap, snap.best, result.space_unit, time_unit=result.time_unit)
        ax.set_title(
            f"phase at t = {snap.times[snap.best]:.4g} {result.time_unit} (highest PGD)",
            fontsize=9,
        )
    else:
        ax.text(0.5, 0.5, "no valid sample", ha="center", transform=ax.transAxes)

    ax = fig.add_subplot(2, 2, 2)
    t = result.times
    ax.plot(t, result.pgd, lw=0.6, color="0.3")
    if np.isfinite(result.threshold):
        ax.axhline(result.threshold, color="C3", ls="--",
                   label=f"threshold (alpha={result.alpha:g})")  # fmt: skip
        for a, b in result.epochs:
            ax.axvspan(t[a], t[min(b, len(t) - 1)], color="C2", alpha=0.2, lw=0)
        ax.legend(loc="upper right", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"time ({result.time_unit})")
    ax.set_ylabel("PGD")
    ax.set_title("phase gradient directionality; wave epochs shaded", fontsize=9)

    ax = fig.add_subplot(2, 2, 3)
    sp_all, _, _ = result.estimates("all")
    s = summary if summary is not None else result.summarise()
    if result.per_sample and np.isfinite(result.threshold) and result.wave.any():
        sp_w, _, _ = result.estimates("waves")
        groups = (("all valid samples", sp_all, "0.6"), ("wave epochs", sp_w, "C0"))
    else:
        groups = (("estimates" if not result.per_sample else "all valid samples", sp_all, "C0"),)
    # densities on shared bins: a few epoch estimates stay visible next to many samples
    finite = [sp for _, sp, _ in groups if sp.size > 1]
    edges = np.linspace(0, max(np.quantile(sp, 0.99) for sp in finite), 61) if finite else None
    for lab, sp, col in groups:
        if sp.size > 1:
            ax.hist(sp[sp <= edges[-1]], bins=edges, density=True, color=col, alpha=0.6,
                    label=f"{lab} (n={sp.size}): median {np.median(sp):.3g}")  # fmt: skip
        elif sp.size == 1:
            ax.axvline(sp[0], color=col, lw=2, label=f"{lab}: {sp[0]:.3g}")
    why = _why_no_speed(s) if not any(sp.size for _, sp, _ in groups) else None
    if why:
        ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, transform=ax.transAxes)
        ax.set_yticks([])
    _legend(ax)
    ax.set_xlabel(f"speed ({result.speed_unit})")
    ax.set_ylabel("density")
    ax.set_title(f"speed ({result.method})")

    _, d, _ = result.estimates("all")
    if result.n_dims == 2:
        ax = fig.add_subplot(2, 2, 4, projection="polar")
        if d.size:
            ax.hist(d, bins=36, color="C1")
        else:
            ax.text(0.5, 0.5, "no direction: no speed estimate", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_yticklabels([])
        ax.set_title("direction of propagation (CCW from +x)")
    else:
        ax = fig.add_subplot(2, 2, 4)
        fwd = (s.all_samples or s).forward_fraction
        if fwd is None or not np.isfinite(fwd):
            ax.text(0.5, 0.5, "no direction: no speed estimate", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
        else:
            ax.bar(["forward", "backward"], [fwd, 1 - fwd], color=["C1", "C0"])
        ax.set_ylim(0, 1)
        ax.set_title("direction on a line: fraction of estimates")
    fig.suptitle(_label(title or f"wavescope velocity ({result.method})"))
    fig.tight_layout()
    return fig


def _why_no_speed(summary) -> str:
    """The panel's text when a measurement has no speed: the summary's own reason."""
    reasons = [w for w in summary.warnings if "speed" in w.lower()]
    head = "no speed estimate"
    if not reasons:
        return head
    import textwrap

    return head + ":\n" + textwrap.fill(reasons[0], 60, max_lines=5, placeholder=" ...")


def plot_memory_curves(curves: dict, *, ci_level: float = 0.95, colours: dict | None = None,
                       labels: dict | None = None) -> bytes:  # fmt: skip
    """Memory curves: held-out score against lag, with CI bands, chance, the criterion line
    and horizons.

    Parameters
    ----------
    curves : dict
        ``{label: [summary, ...]}`` with each summary a
        :meth:`wavescope.waves.memory.MemoryCurve.summary` dict (keys ``lags``, ``score``,
        ``ci_low``, ``ci_high``, ``chance``, ``horizon``, ``metric``, ``dt``,
        ``time_unit``; ``threshold`` and ``above`` where present). Curves of one label
        share a colour; accuracy and R^2 curves go to separate panels.
    ci_level : float
        Level of the curves' bands (for the title).

    Returns
    -------
    bytes
        The PNG.

    Notes
    -----
    The x axis is the lag in time units (``lag * dt``) when every curve shares
    ``time_unit``, otherwise in samples. For each curve: a dashed line at its chance
    level; a thin solid line at its criterion, ``threshold`` (significance and effect
    size, the larger per lag; ``criterion`` for summaries written before the effect size
    existed), which a lag's score must exceed to hold memory; filled markers on the lags
    that hold memory, open ones elsewhere; a dotted vertical line at the horizon, drawn
    half a lag after the last lag held (so it separates the held lags from the rest).
    """
    CI_LEVEL = ci_level
    plt = _plt()
    items = [(g, c) for g, cs in curves.items() for c in cs]
    metrics = list(dict.fromkeys(c["metric"] for _, c in items)) or ["accuracy"]
    units = {c["time_unit"] for _, c in items}
    in_time = len(units) == 1
    xlabel = f"lag ({next(iter(units))})" if in_time else "lag (samples)"
    width = FINDING_WIDTH / len(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), 3.8), squeeze=False)
    colours = {g: _colour(colours, g, i) for i, g in enumerate(curves)}
    labels = labels or {}
    for ax, metric in zip(axes[0], metrics):
        labelled = set()
        for g, c in items:
            if c["metric"] != metric:
                continue
            scale = float(c["dt"]) if in_time else 1.0
            x = np.asarray(c["lags"], float) * scale
            col = colours[g]
            y = np.asarray(c["score"], float)
            ax.fill_between(
                x,
                np.asarray(c["ci_low"], float),
                np.asarray(c["ci_high"], float),
                color=col,
                alpha=0.18,
                lw=0,
            )
            ax.plot(x, y, "-", color=col, lw=1.3,
                    label=None if g in labelled else _label(labels.get(g, g)))  # fmt: skip
            labelled.add(g)
            line = c.get("threshold", c.get("criterion"))
            if line is not None:
                ax.plot(x, np.asarray(line, float), "-", color=col, lw=0.6, alpha=0.8)
            held = (
                np.asarray(c["above"], bool)
                if "above" in c
                else np.arange(y.size) < int(c["horizon"])
            )
            ax.plot(x[held], y[held], "o", color=col, ms=3.2)
            ax.plot(x[~held], y[~held], "o", mfc="white", mec=col, ms=3.2, mew=0.8)
            ax.axhline(float(c["chance"]), color=col, ls="--", lw=0.7)
            if int(c["horizon"]) > 0:
                ax.axvline((float(c["horizon"]) - 0.5) * scale, color=col, ls=":", lw=1.0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy" if metric == "accuracy" else "held-out R$^2$")
        ax.set_title(f"{metric} ({CI_LEVEL:.0%} bands)")
        if labelled:
            ax.legend(fontsize=9)
    return _png(fig)


def calibration_figure(result, *, title: str | None = None):
    """What ``wavescope calibrate`` found: the speed error against the true speed (median
    and IQR of the records with a speed) and the detection power (share of records with a
    speed printed), one point per simulated speed. Renders a
    :class:`~wavescope.pipelines.calibrate.CalibrationResult`; computes nothing."""
    plt = _plt()
    rows = result.speeds
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for r in rows:
        if r.median_error is None:
            continue
        lo, hi = r.error_iqr
        ax.plot([r.speed, r.speed], [100 * lo, 100 * hi], color="tab:blue", lw=3, alpha=0.5)
        ax.plot(r.speed, 100 * r.median_error, "o", color="tab:blue")
    ax.axhspan(-5, 5, color="0.9", zorder=0)
    ax.axhline(0, color="0.5", lw=0.8)
    if result.recording_speed is not None:
        ax.axvline(result.recording_speed, color="tab:orange", ls="--", label="this recording")
        ax.legend(fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel(f"true speed ({result.speed_unit})", fontsize=10)
    ax.set_ylabel("speed error (%), median and IQR", fontsize=10)
    ax.set_title("Bias and spread", fontsize=11)
    ax2.bar(np.arange(len(rows)), [r.printed for r in rows], color="tab:green", alpha=0.7,
            label="speed printed")  # fmt: skip
    ax2.plot(np.arange(len(rows)), [r.within_15 for r in rows], "kx", label="within 15%")
    ax2.set_xticks(np.arange(len(rows)))
    ax2.set_xticklabels([f"{r.wavelength_extents:g}" for r in rows], fontsize=9)
    ax2.set_xlabel("true wavelength (array extents)", fontsize=10)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("fraction of simulated records", fontsize=10)
    ax2.set_title("Detection power", fontsize=11)
    ax2.legend(fontsize=9, loc="lower left")
    bg = result.background
    fig.suptitle(
        title
        or f"Calibration: 1/f^{bg.exponent:.2f} background correlated over "
        f"{bg.length:.3g}, {result.snr_db_used:.1f} dB in band at {bg.frequency:.3g}",
        fontsize=11,
    )
    fig.tight_layout()
    return fig
