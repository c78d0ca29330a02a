"""The validation bank: fields with known truth that look like what users bring.

A default is right only if it is right on recordings as labs have them: 1/f backgrounds
correlated in space, waves several times longer than the array, bursts, irregular
layouts, and fields with no propagation at all. Each :class:`BankCell` names one kind of
field; :func:`bank_field` draws it for a seed, with its truth in ``meta["truth"]``
(``wave`` False for the no-wave classes). The scorecard (``analyses/validation.py``) runs
the defaults over the cells and many seeds; the tests run a fast subset.

Cells are recording-like (positions in metres, time in seconds): a 10 x 10 grid at
0.4 mm (a Utah array's 3.6 mm extent) or 64 irregular sites over 4 mm, 500 Hz, waves at
8-14 Hz. Within a cell the frequency and direction are drawn per seed, and the speed
follows from the cell's wavelength in array extents (``speed = wavelength * f``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError, check_option
from wavescope.datasets.backgrounds import mix_at_snr, pink_background
from wavescope.datasets.layouts import grid_positions, random_positions
from wavescope.datasets.synthetic import noise_field

__all__ = ["NO_WAVE_KINDS", "BankCell", "bank_cells", "bank_field", "layout_extent"]

#: Classes of fields without propagation; a speed printed for one of them is a false wave.
NO_WAVE_KINDS = ("white", "pink", "synchronous", "standing", "volume", "patches")
#: The breadth cells' further kinds (see :mod:`wavescope.datasets.bank_breadth`): waves
#: made of repeated pulses, a delay line's broadband impulse response and a complex
#: diagonal SSM's driven oscillation, and band-limited smooth noise alone (no wave).
BREADTH_WAVE_KINDS = ("pulses", "impulse", "ssm")
BREADTH_NO_WAVE_KINDS = ("smooth",)
LAYOUTS = ("grid", "irregular")
#: Layouts of the breadth cells: a line of model-state sites in steps, an unevenly spaced
#: line of contacts (a laminar probe) and 3-D contacts projected onto a plane.
BREADTH_LAYOUTS = ("line-steps", "uneven-line", "depth3d")
BACKGROUNDS = ("white", "pink")
BREADTH_BACKGROUNDS = ("smooth",)
FS = 500.0
PITCH = 0.4e-3


@dataclass(frozen=True)
class BankCell:
    """One kind of field in the bank.

    Attributes
    ----------
    kind : str
        ``"wave"`` (a plane wave sustained for the whole record), ``"bursts"`` (the
        same wave present 20% of the time, in 1 s bursts) or a no-wave class of
        :data:`NO_WAVE_KINDS`.
    layout : {"grid", "irregular"}
    background : {"white", "pink"}
        White: independent Gaussian noise at every site. Pink: 1/f^chi noise (chi drawn in
        1-2 per seed) correlated over ``smooth_length``, plus 10% white.
    snr_db : float
        In-band SNR, dB, within +-2 Hz of the wave's frequency (no-wave classes: the
        SNR of their oscillation, where they have one).
    wavelength : float
        Wavelength in array extents (waves only).
    smooth_length : float
        Spatial correlation length of the pink background, metres.
    duration : float
        Seconds.
    """

    kind: str
    layout: str = "grid"
    background: str = "pink"
    snr_db: float = 10.0
    wavelength: float = 2.0
    smooth_length: float = 1e-3
    duration: float = 30.0
    speed: float | None = None

    def __post_init__(self):
        kinds = ("wave", "bursts") + BREADTH_WAVE_KINDS + NO_WAVE_KINDS + BREADTH_NO_WAVE_KINDS
        check_option("kind", self.kind, kinds)
        check_option("layout", self.layout, LAYOUTS + BREADTH_LAYOUTS)
        check_option("background", self.background, BACKGROUNDS + BREADTH_BACKGROUNDS)
        if self.kind == "impulse" and self.layout != "line-steps":
            raise WaveInputError("impulse cells are delay-line states: layout='line-steps'.")
        if self.kind == "impulse" and not self.speed:
            raise WaveInputError("impulse cells need speed= (sites/step).")

    @property
    def is_wave(self) -> bool:
        return self.kind in ("wave", "bursts") + BREADTH_WAVE_KINDS

    @property
    def is_breadth(self) -> bool:
        """Drawn by :mod:`wavescope.datasets.bank_breadth` (a new kind, layout or
        background, or a pink background smoothed over other than 1 mm)."""
        return (
            self.kind in BREADTH_WAVE_KINDS + BREADTH_NO_WAVE_KINDS
            or self.layout in BREADTH_LAYOUTS
            or self.background in BREADTH_BACKGROUNDS
            or self.smooth_length != 1e-3
        )

    @property
    def name(self) -> str:
        """A short label: ``wave grid pink 10dB 2x`` (breadth cells add what differs:
        ``ssm line-steps pink 10dB 2x 2048step``, ``wave grid pink 10dB 2x 0.5mm``)."""
        parts = [self.kind, self.layout, self.background, f"{self.snr_db:g}dB"]
        if self.speed is not None:
            parts.append(f"v{self.speed:g}")
        elif self.is_wave:
            parts.append(f"{self.wavelength:g}x")
        if self.smooth_length != 1e-3 and self.background != "white":
            parts.append(f"{self.smooth_length * 1e3:g}mm")
        if self.layout == "line-steps":
            parts.append(f"{self.duration:g}step")
        elif self.duration != 30.0:
            parts.append(f"{self.duration:g}s")
        return " ".join(parts)

    def to_json(self) -> dict:
        return {**asdict(self), "name": self.name, "wave": self.is_wave}


def _positions(layout: str, rng) -> np.ndarray:
    if layout == "grid":
        return grid_positions(10, 10, PITCH)
    return random_positions(64, 4e-3, min_distance=0.2e-3, seed=rng)


def layout_extent(positions: np.ndarray) -> float:
    """The array's extent: the largest distance between two sites (space unit)."""
    d = positions[:, None, :] - positions[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


def _envelope(cell: BankCell, t: np.ndarray, rng) -> np.ndarray:
    if cell.kind != "bursts":
        return np.ones_like(t)
    env = np.zeros_like(t)
    n_bursts = max(1, int(round(0.2 * cell.duration)))  # 1 s bursts, 20% of the time
    starts = rng.choice(np.arange(0, int(cell.duration) - 1), n_bursts, replace=False)
    for s in starts:
        inside = (t >= s) & (t < s + 1)
        env[inside] = np.sin(np.pi * (t[inside] - s)) ** 2
    return env


def _signal(cell: BankCell, pos: np.ndarray, t: np.ndarray, f0: float, rng) -> tuple:
    """The clean field and its truth."""
    two_pi_ft = 2 * np.pi * f0 * t
    if cell.is_wave:
        speed = cell.wavelength * layout_extent(pos) * f0
        theta = rng.uniform(-np.pi, np.pi)
        k = 2 * np.pi * f0 / speed * np.array([np.cos(theta), np.sin(theta)])
        clean = np.cos(two_pi_ft[None, :] - (pos @ k)[:, None]) * _envelope(cell, t, rng)
        truth = dict(pattern="planar", speed=speed, direction=theta, frequency=f0)
        return clean, truth
    if cell.kind == "synchronous":
        clean = np.repeat(np.cos(two_pi_ft)[None, :], len(pos), 0)
    elif cell.kind == "standing":
        k = 2 * np.pi / (2 * layout_extent(pos))
        clean = np.cos(k * pos[:, 0])[:, None] * np.cos(two_pi_ft)[None, :]
    elif cell.kind == "volume":  # one source below the array, gain falling with distance
        src = np.append(pos.mean(0) + rng.normal(0, 1e-3, 2), 1.5e-3)
        r = np.sqrt(((np.c_[pos, np.zeros(len(pos))] - src) ** 2).sum(1))
        drive = np.cos(two_pi_ft + 0.5 * np.sin(2 * np.pi * 0.3 * t))
        clean = (1.5e-3 / r)[:, None] * drive[None, :]
    elif cell.kind == "patches":  # four discrete patches switching on one after another
        centres = pos[rng.choice(len(pos), 4, replace=False)]
        near = np.argmin(((pos[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        clean = np.zeros((len(pos), t.size))
        period = 0.5
        for i in range(4):
            on = ((t // period) % 4 == i).astype(float)
            clean[near == i] = np.cos(two_pi_ft)[None, :] * on[None, :]
    else:
        return None, dict(pattern="noise")
    return clean, dict(pattern=cell.kind, frequency=f0)


def bank_field(cell: BankCell, seed: int) -> WaveField:
    """Draw the field of ``cell`` for ``seed``.

    Returns
    -------
    WaveField
        Positions in metres, 500 Hz, ``cell.duration`` seconds. ``meta["truth"]`` holds
        ``wave`` (bool), the cell (``cell``), and for waves ``speed`` (m/s),
        ``direction`` (radians) and ``frequency`` (Hz).
    """
    if not isinstance(cell, BankCell):
        raise WaveInputError("cell must be a BankCell (see wavescope.datasets.bank_cells).")
    if cell.is_breadth:
        from wavescope.datasets.bank_breadth import breadth_field

        return breadth_field(cell, seed)
    rng = np.random.default_rng(seed)
    pos = _positions(cell.layout, rng)
    t = np.arange(int(round(FS * cell.duration))) / FS
    f0 = float(rng.uniform(8, 14))
    clean, truth = _signal(cell, pos, t, f0, rng)
    bg_seed = int(rng.integers(2**31))
    if cell.background == "pink":
        bg = pink_background(
            pos, fs=FS, duration=cell.duration, exponent=float(rng.uniform(1, 2)),
            smooth_length=cell.smooth_length, white_fraction=0.1, seed=bg_seed,
        )  # fmt: skip
    else:
        bg = noise_field(pos, fs=FS, duration=cell.duration, seed=bg_seed)
    if clean is None:  # a background alone
        field = bg
    else:
        sig = WaveField(clean.astype(np.float32), FS, pos, "m", "s")
        field = mix_at_snr(sig, bg, cell.snr_db, (f0 - 2, f0 + 2))
    truth = {**field.meta.get("truth", {}), **truth, "wave": cell.is_wave, "cell": cell.to_json()}
    return replace(field, meta={**field.meta, "truth": truth})


def bank_cells(which: str = "fast") -> list[BankCell]:
    """The cells of the bank.

    ``"fast"``: the cells the default tests assert (waves at 10 dB of 2 and 10 array
    extents on a grid in pink noise, the no-wave classes white and pink). ``"full"``:
    layouts x backgrounds x SNRs (-3, 3, 10, 20 dB) x wavelengths (0.5, 2, 10, 20
    extents) for sustained waves, bursts at 6 dB, and every no-wave class on both
    layouts. ``"breadth"``: the layouts, signals and backgrounds beyond these (a line of
    model-state sites in steps, an uneven line, projected 3-D contacts; pulses, a delay
    line's impulse response, a complex diagonal SSM's state; pink smoothed over 0.5 and
    3 mm, band-limited smooth noise), see :mod:`wavescope.datasets.bank_breadth`. They are
    kept out of ``"full"`` so that the committed full scorecards
    (``analyses/results/validation_full_*``) stay reproducible from the same cell list;
    the scorecard runs them with ``--cells breadth``.
    """
    check_option("which", which, ("fast", "full", "breadth"))
    if which == "breadth":
        from wavescope.datasets.bank_breadth import breadth_cells

        return breadth_cells()
    if which == "fast":
        return [
            BankCell("wave", wavelength=2.0),
            BankCell("wave", wavelength=10.0),
            BankCell("white", background="white"),
            BankCell("pink"),
        ]
    cells = [
        BankCell("wave", layout=lay, background=bg, snr_db=snr, wavelength=wl)
        for lay in LAYOUTS
        for bg in BACKGROUNDS
        for snr in (-3.0, 3.0, 10.0, 20.0)
        for wl in (0.5, 2.0, 10.0, 20.0)
    ]
    cells += [BankCell("bursts", layout=lay, snr_db=6.0, wavelength=5.0) for lay in LAYOUTS]
    cells += [
        BankCell(kind, layout=lay, background="white" if kind == "white" else "pink", snr_db=0.0)
        for kind in NO_WAVE_KINDS
        for lay in LAYOUTS
    ]
    return cells
