"""Summary figure of a velocity measurement (takes numbers, draws them; computes nothing)."""

from __future__ import annotations

import os

import numpy as np

from wavescope.core.field import WaveField

__all__ = ["plot_velocity"]


def plot_velocity(result, field: WaveField, path: str | os.PathLike, *, title: str | None = None):
    """Write a 4-panel PNG: phase map at the most wave-like sample, PGD over time with the
    epoch threshold, the speed distribution and the direction distribution.

    Parameters
    ----------
    result : VelocityResult
        From :func:`wavescope.waves.measure_velocity`.
    field : WaveField
        The field it was measured on (for positions and units).
    path : path-like
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wavescope.signal.spectral import analytic_signal

    fig = plt.figure(figsize=(11, 8))
    good = field.good
    t = result.times
    valid = result.valid
    pgd = np.where(valid, result.pgd, np.nan)
    i_best = int(np.nanargmax(pgd)) if np.isfinite(pgd).any() else 0
    sample = int(result.index[i_best])
    lo = max(0, sample - int(2 * field.fs / max(result.band[0], 1e-3)))
    hi = min(field.n_times, sample + int(2 * field.fs / max(result.band[0], 1e-3)) + 1)
    seg = field.data[good, lo:hi]
    z = analytic_signal(seg, field.fs, result.band) if seg.shape[1] >= 8 else None

    ax = fig.add_subplot(2, 2, 1)
    pos = field.positions[good]
    if z is not None and field.n_dims == 2:
        sc = ax.scatter(
            pos[:, 0],
            pos[:, 1],
            c=np.angle(z[:, sample - lo]),
            cmap="twilight",
            vmin=-np.pi,
            vmax=np.pi,
            s=max(4, 4000 / len(pos)),
        )
        fig.colorbar(sc, ax=ax, label="phase (rad)")
        kv = result.wavevector[i_best]
        if np.all(np.isfinite(kv)):
            c = pos.mean(axis=0)
            L = 0.3 * (np.ptp(pos[:, 0]) + np.ptp(pos[:, 1])) / 2
            u = kv / np.linalg.norm(kv)
            ax.annotate("", xy=c + L * u, xytext=c, arrowprops=dict(arrowstyle="->", lw=2))
        ax.set_aspect("equal")
        ax.set_xlabel(f"x ({field.space_unit})")
        ax.set_ylabel(f"y ({field.space_unit})")
    elif z is not None:
        im = ax.imshow(
            np.angle(z),
            aspect="auto",
            cmap="twilight",
            vmin=-np.pi,
            vmax=np.pi,
            extent=[lo / field.fs, hi / field.fs, pos[-1, 0], pos[0, 0]],
        )
        fig.colorbar(im, ax=ax, label="phase (rad)")
        ax.set_xlabel(f"time ({field.time_unit})")
        ax.set_ylabel(f"position ({field.space_unit})")
    ax.set_title(f"phase at t = {sample / field.fs:.3g} {field.time_unit} (highest PGD)")

    ax = fig.add_subplot(2, 2, 2)
    ax.plot(t, result.pgd, lw=0.6, color="0.3")
    if np.isfinite(result.threshold):
        ax.axhline(
            result.threshold, color="C3", ls="--", label=f"threshold (alpha={result.alpha:g})"
        )
        for a, b in result.epochs:
            ax.axvspan(t[a], t[min(b, len(t) - 1)], color="C2", alpha=0.2, lw=0)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"time ({field.time_unit})")
    ax.set_ylabel("PGD")
    ax.set_title("phase gradient directionality; wave epochs shaded")

    ax = fig.add_subplot(2, 2, 3)
    sp = result.speed[valid & np.isfinite(result.speed)]
    if sp.size:
        hi_q = np.quantile(sp, 0.99)
        ax.hist(sp[sp <= hi_q], bins=60, color="C0")
        ax.axvline(np.median(sp), color="k", ls="--", label=f"median {np.median(sp):.3g}")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"speed ({result.speed_unit})")
    ax.set_ylabel("samples")
    ax.set_title("per-sample speed")

    ax = fig.add_subplot(2, 2, 4, projection="polar")
    d = result.direction[valid & np.isfinite(result.direction)]
    if d.size:
        ax.hist(d, bins=36, color="C1")
    ax.set_title("direction of propagation (CCW from +x)")

    fig.suptitle(title or f"wavescope velocity ({result.method})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
