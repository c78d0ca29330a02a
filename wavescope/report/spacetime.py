"""Space-time image of a WaveField: sites against time, colour = sample value."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileExistsError
from wavescope.core.field import WaveField


def plot_spacetime(
    field: WaveField,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    speed: float | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
    cmap: str = "RdBu_r",
    overwrite: bool = True,
    dpi: int = 120,
) -> Path:
    """Write the space-time image of ``field`` (sites vs time) to a PNG file.

    Parameters
    ----------
    field : WaveField
        Sites on a line (1-D positions); for 2-D layouts the sites are drawn in their
        stored order. Rows are sorted by position.
    path : str or path-like
        Output image (the format follows the suffix, e.g. ``.png``).
    title : str, optional
        Figure title; default from ``field.meta`` (model, layer, channel).
    speed : float, optional
        Overlay the line ``x = origin_x + speed * (t - origin_t)`` (``space_unit`` per
        ``time_unit``), e.g. a measured speed.
    origin : (float, float)
        ``(t, x)`` the overlay line passes through.
    cmap : str
        Diverging colour map, centred on 0.
    overwrite : bool
        Refuse to replace an existing file when False.

    Returns
    -------
    path : Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.exists() and not overwrite:
        raise WaveFileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite).")
    order = np.argsort(field.positions[:, 0], kind="stable")
    data = field.data[order]
    x = field.positions[order, 0]
    t = field.times
    lim = float(np.nanmax(np.abs(data))) or 1.0
    dt = 1.0 / field.fs
    dx = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    im = ax.imshow(
        data,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=-lim,
        vmax=lim,
        extent=(t[0] - dt / 2, t[-1] + dt / 2, x[0] - dx / 2, x[-1] + dx / 2),
        interpolation="nearest",
    )
    if speed is not None:
        tt = np.array([t[0], t[-1]])
        ax.plot(
            tt,
            origin[1] + speed * (tt - origin[0]),
            "k--",
            lw=1,
            label=f"{speed:.3g} {field.speed_unit}",
        )
        ax.set_ylim(x[0] - dx / 2, x[-1] + dx / 2)
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel(f"time ({field.time_unit})")
    ax.set_ylabel(f"position ({field.space_unit})")
    if title is None:
        m = field.meta
        parts = [
            str(m[k]) if k == "model" else f"{k} {m[k]}"
            for k in ("model", "layer", "part", "channel")
            if m.get(k) is not None
        ]
        title = ", ".join(parts) or "space-time"
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="state")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
