"""Figures of a group comparison, returned as PNG bytes (matplotlib Agg; nothing shown).

Every function takes numbers already computed (per-sample arrays, metric records) and
draws them; :func:`spacetime_png` wraps :func:`wavescope.report.spacetime.plot_spacetime`.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "direction_png",
    "learning_curves_png",
    "plot_memory_curves",
    "pgd_time_png",
    "phase_snapshots_png",
    "properties_png",
    "spacetime_png",
    "speed_png",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, dpi=90) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def _grid(n, size=(3.6, 3.0)):
    plt = _plt()
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def spacetime_png(field, *, title: str, speed: float | None = None) -> bytes:
    """Space-time image of one field (sites sorted by x against time), PNG bytes."""
    from wavescope.report.spacetime import plot_spacetime

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "st.png"
        plot_spacetime(field, path, title=title, speed=speed, dpi=80)
        return path.read_bytes()


def phase_snapshots_png(snapshots: dict) -> bytes:
    """Phase maps, one panel per group.

    Parameters
    ----------
    snapshots : dict
        ``{group: (positions (n_sites, d), phase (n_sites,) rad, time, time_unit,
        space_unit)}``; 2-D layouts are drawn as coloured sites, 1-D as phase against x.
    """
    fig, axes = _grid(len(snapshots))
    for ax, (g, (pos, phase, t, tu, su)) in zip(axes, snapshots.items()):
        if pos.shape[1] >= 2:
            sc = ax.scatter(
                pos[:, 0], pos[:, 1], c=phase, cmap="twilight", vmin=-np.pi, vmax=np.pi, s=30
            )
            ax.set_aspect("equal")
            ax.set_ylabel(f"y ({su})")
            fig.colorbar(sc, ax=ax, label="phase (rad)")
        else:
            ax.plot(pos[:, 0], phase, ".")
            ax.set_ylim(-np.pi, np.pi)
            ax.set_ylabel("phase (rad)")
        ax.set_xlabel(f"x ({su})")
        ax.set_title(f"{g}: t = {t:.4g} {tu}", fontsize=9)
    return _png(fig)


def pgd_time_png(series: dict) -> bytes:
    """PGD over time, one panel per group, one line per recording.

    Parameters
    ----------
    series : dict
        ``{group: [(times (n,), pgd (n,), threshold or None, time_unit), ...]}``.
    """
    fig, axes = _grid(len(series))
    for ax, (g, recs) in zip(axes, series.items()):
        for t, pgd, _, tu in recs:
            ax.plot(t, pgd, lw=0.7, alpha=0.8)
            ax.set_xlabel(f"time ({tu})")
        thr = [r[2] for r in recs if r[2] is not None and np.isfinite(r[2])]
        if thr:
            ax.axhline(np.median(thr), color="k", ls="--", lw=0.8, label="epoch threshold")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("PGD")
        ax.set_title(g, fontsize=9)
    return _png(fig)


def speed_png(speeds: dict, unit: str, *, reference=None) -> bytes:
    """Distributions of per-sample speeds per group (log-spaced histogram densities).

    Parameters
    ----------
    speeds : dict
        ``{group: speeds (n,)}`` in ``unit``.
    reference : (speed (m,), density (m,), label), optional
        A reference density drawn over the histograms (same unit).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    allv = np.concatenate([np.asarray(v, float) for v in speeds.values()] + [np.ones(1)])
    allv = allv[np.isfinite(allv) & (allv > 0)]
    lo, hi = np.quantile(allv, [0.01, 0.99])
    if reference is not None:
        lo, hi = min(lo, 0.02), max(hi, 2.0)
    bins = np.geomspace(lo / 1.5, hi * 1.5, 40)
    for g, v in speeds.items():
        v = np.asarray(v, float)
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            ax.hist(v, bins=bins, density=True, histtype="step", lw=1.5, label=f"{g} (n={v.size})")
    if reference is not None:
        s, d, label = reference
        ax.plot(s, d, "k-", lw=1.2, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(f"speed ({unit})")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    return _png(fig)


def direction_png(directions: dict) -> bytes:
    """Rose histograms of per-sample directions (rad, CCW from +x), one per group."""
    plt = _plt()
    n = len(directions)
    fig = plt.figure(figsize=(3.2 * min(n, 4), 3.2 * int(np.ceil(n / 4))))
    for i, (g, d) in enumerate(directions.items()):
        ax = fig.add_subplot(int(np.ceil(n / 4)), min(n, 4), i + 1, projection="polar")
        d = np.asarray(d, float)
        d = d[np.isfinite(d)]
        if d.size:
            h, e = np.histogram(d, bins=24, range=(-np.pi, np.pi))
            ax.bar(e[:-1], h / h.sum(), width=np.diff(e), align="edge", alpha=0.7)
        ax.set_title(g, fontsize=9)
        ax.set_yticklabels([])
    return _png(fig)


def properties_png(values: dict, units: dict) -> bytes:
    """One value per recording, per group, for each property (strip plots).

    ``values``: ``{property: {group: values (n,)}}``; ``units``: ``{property: unit}``.
    """
    fig, axes = _grid(len(values), size=(3.2, 2.8))
    for ax, (prop, byg) in zip(axes, values.items()):
        for i, v in enumerate(byg.values()):
            v = np.asarray(v, float)
            ax.plot(np.full(v.size, i) + np.linspace(-0.1, 0.1, v.size), v, "o", ms=4)
        ax.set_xticks(range(len(byg)), list(byg), fontsize=7, rotation=20)
        ax.set_title(f"{prop} ({units.get(prop, '')})", fontsize=8)
    return _png(fig)


def learning_curves_png(curves: dict) -> bytes:
    """Training curves: loss and exact-string accuracy against step.

    ``curves``: ``{group: [(label, records), ...]}`` with records the ``split="train"``
    lines of ``metrics.jsonl`` (keys ``step``, ``loss``, ``char_acc``, ``exact_acc``).
    """
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for gi, (g, runs) in enumerate(curves.items()):
        for label, recs in runs:
            s = [r["step"] for r in recs]
            a1.plot(s, [r["loss"] for r in recs], color=f"C{gi}", lw=1, label=f"{g}: {label}")
            a2.plot(s, [r.get("exact_acc", np.nan) for r in recs], color=f"C{gi}", lw=1)
    a1.set_yscale("log")
    a1.set_xlabel("step")
    a1.set_ylabel("loss")
    a1.legend(fontsize=7)
    a2.set_xlabel("step")
    a2.set_ylabel("exact-string accuracy")
    a2.set_ylim(-0.02, 1.02)
    return _png(fig)


def plot_memory_curves(curves: dict, out=None) -> bytes:
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
    out : path, optional
        Also write the PNG there.

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
    from wavescope.waves.memory import CI_LEVEL

    plt = _plt()
    items = [(g, c) for g, cs in curves.items() for c in cs]
    metrics = list(dict.fromkeys(c["metric"] for _, c in items)) or ["accuracy"]
    units = {c["time_unit"] for _, c in items}
    in_time = len(units) == 1
    xlabel = f"lag ({next(iter(units))})" if in_time else "lag (samples)"
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4 * len(metrics), 3.8), squeeze=False)
    colours = {g: f"C{i % 10}" for i, g in enumerate(curves)}
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
            ax.plot(x, y, "-", color=col, lw=1.3, label=None if g in labelled else g)
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
        ax.set_title(
            f"{metric}: dashed = chance, thin = criterion, filled = holds memory, dotted = "
            f"horizon, band = {CI_LEVEL:.0%} CI",
            fontsize=7,
        )
        if labelled:
            ax.legend(fontsize=7)
    png = _png(fig)
    if out is not None:
        Path(out).write_bytes(png)
    return png
