"""The common data type: :class:`WaveField`.

A ``WaveField`` holds samples from sites at known positions, with the units that give
the measured speeds their meaning. Cortical recordings (channels at montage positions,
metres, seconds) and model hidden states (state index, sites, steps) become the same
object, so every analysis runs on either unchanged.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from wavescope.core.units import check_space_unit, check_time_unit, space_scale, speed_unit
from wavescope.core.validate import (
    WaveInputError,
    as_float_array,
    check_bool_mask,
    check_positive,
    unknown_names_message,
)


@dataclass(frozen=True, eq=False)
class WaveField:
    """Samples from sites at known positions, with units.

    Parameters
    ----------
    data : ndarray, shape (n_sites, n_times)
        The samples, one row per site (MNE's channel-by-time order, so that the time axis
        is contiguous for filtering). Float32 or float64.
    fs : float
        Sampling rate in samples per ``time_unit`` (Hz when ``time_unit="s"``; 1 for
        model states, one sample per step).
    positions : ndarray, shape (n_sites, n_dims)
        Site positions in ``space_unit``; ``n_dims`` is 1 (a line), 2 (a surface) or 3.
    space_unit : {"m", "mm", "um", "site"}
        Unit of ``positions``. ``"site"`` means positions are state indices.
    time_unit : {"s", "ms", "step"}
        Unit of time; ``fs`` counts samples per this unit.
    ch_names : tuple of str
        One name per site.
    bad : ndarray of bool, shape (n_sites,)
        True for sites to exclude from every measure (bad channels, pixels off cortex).
        Bad sites are kept in ``data`` (nothing is dropped silently).
    meta : dict
        Free-form provenance (source file, montage frame, projection, ...).

    Notes
    -----
    Speeds measured on a field are in ``space_unit / time_unit`` (see
    :attr:`speed_unit`): m/s for a recording with positions in metres and time in
    seconds, sites/step for a hidden state.

    ``data`` may be a read-only :class:`numpy.memmap` (e.g. from
    ``read_npz(path, mmap=True)``): it is kept as it is, never copied or converted, so a
    recording larger than memory can be measured chunk by chunk (see
    :func:`~wavescope.waves.velocity.measure_velocity`). A memory-mapped ``data`` must
    already be float32 or float64.
    """

    data: np.ndarray
    fs: float
    positions: np.ndarray
    space_unit: str = "m"
    time_unit: str = "s"
    ch_names: tuple[str, ...] = ()
    bad: np.ndarray = field(default=None)  # type: ignore[assignment]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.data, np.memmap):
            # keep the mapping: as_float_array would strip the subclass, and a dtype
            # conversion would read the whole file into memory
            data = self.data
            if data.dtype.kind != "f":
                raise WaveInputError(
                    f"memory-mapped data must be float32 or float64, got {data.dtype}; "
                    "rewrite the file with float samples (e.g. data.astype(np.float32)) or "
                    "load it into memory (read_npz(path, mmap=False))."
                )
        elif np.ma.isMaskedArray(self.data):
            masked = self.data
            data = as_float_array("data", np.ma.getdata(masked))
            mask = np.ma.getmaskarray(masked)
            if mask.any():
                if data.dtype.kind != "f":  # pragma: no cover - as_float_array gives floats
                    data = data.astype(np.float64)
                data = np.where(mask, np.nan, data).astype(data.dtype, copy=False)
        else:
            data = as_float_array("data", self.data)
        if data.ndim != 2:
            raise WaveInputError(
                f"data must be 2-D (n_sites, n_times), got shape {data.shape}; "
                "for a grid of frames use WaveField.from_grid, for one site reshape to (1, n)."
            )
        n_sites, n_times = data.shape
        if n_sites < 1 or n_times < 1:
            raise WaveInputError(
                f"data must have at least one site and one sample, got {data.shape}."
            )
        fs = check_positive("fs", self.fs)
        if self.positions is None:
            raise WaveInputError(
                "positions are missing: pass one position per site, shape (n_sites, n_dims); "
                "for a line of sites use WaveField.from_line."
            )
        pos = as_float_array("positions", self.positions, dtype=np.float64)
        if pos.ndim == 1:
            pos = pos[:, None]
        if pos.ndim != 2 or pos.shape[0] != n_sites or not 1 <= pos.shape[1] <= 3:
            hint = "give one position per row of data."
            if pos.ndim == 2 and pos.shape[0] == n_times and pos.shape[0] != n_sites:
                hint = (
                    f"data looks transposed: shape {data.shape} is (samples, sites) for "
                    f"{pos.shape[0]} positions; pass data.T (sites x samples, MNE's order)."
                )
            raise WaveInputError(
                f"positions must have shape (n_sites, 1|2|3) = ({n_sites}, d), got {pos.shape}; "
                + hint
            )
        if not np.all(np.isfinite(pos)):
            bad_rows = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
            raise WaveInputError(
                f"positions of sites {bad_rows[:10].tolist()} are not finite; "
                "fix the montage or mark those sites bad and give them any finite position."
            )
        check_space_unit(self.space_unit)
        check_time_unit(self.time_unit)
        names = (
            tuple(str(c) for c in self.ch_names)
            if len(self.ch_names)
            else tuple(f"S{i:03d}" for i in range(n_sites))
        )
        if len(names) != n_sites:
            hint = ""
            if len(names) == n_times and n_times != n_sites:
                hint = f" (data of shape {data.shape} may be transposed: pass data.T)"
            raise WaveInputError(f"ch_names has {len(names)} names for {n_sites} sites{hint}.")
        if len(set(names)) != len(names):
            seen, dups = set(), []
            for nm in names:
                if nm in seen and nm not in dups:
                    dups.append(nm)
                seen.add(nm)
            raise WaveInputError(
                f"channel names must be unique; repeated: {dups[:8]}"
                f"{' ...' if len(dups) > 8 else ''}. Rename them (e.g. add a suffix) so that "
                "bad channels and results can name each site."
            )
        bad = (
            np.zeros(n_sites, bool)
            if self.bad is None
            else check_bool_mask("bad", self.bad, n_sites)
        )
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "fs", fs)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "ch_names", names)
        object.__setattr__(self, "bad", bad)

    # ------------------------------------------------------------------ properties
    @property
    def n_sites(self) -> int:
        return self.data.shape[0]

    @property
    def n_times(self) -> int:
        return self.data.shape[1]

    @property
    def is_memmap(self) -> bool:
        """True when ``data`` is a memory-mapped file (read in chunks by the measures)."""
        return isinstance(self.data, np.memmap)

    @property
    def n_dims(self) -> int:
        """Number of spatial dimensions of ``positions`` (1, 2 or 3)."""
        return self.positions.shape[1]

    @property
    def good(self) -> np.ndarray:
        """Indices of the sites that are not marked bad."""
        return np.flatnonzero(~self.bad)

    @property
    def times(self) -> np.ndarray:
        """Sample times in ``time_unit``, starting at 0."""
        return np.arange(self.n_times) / self.fs

    @property
    def duration(self) -> float:
        """Length of the recording in ``time_unit``."""
        return self.n_times / self.fs

    @property
    def speed_unit(self) -> str:
        """Unit of speeds measured on this field, e.g. ``"m/s"`` or ``"sites/step"``."""
        return speed_unit(self.space_unit, self.time_unit)

    @property
    def extent(self) -> float:
        """Largest distance between two good sites, in ``space_unit``."""
        p = self.positions[self.good]
        if len(p) < 2:
            return 0.0
        from scipy.spatial.distance import pdist

        return float(pdist(p).max())

    def __repr__(self) -> str:
        return (
            f"<WaveField | {self.n_sites} sites ({int(self.bad.sum())} bad), {self.n_times} samples"
            f" at {self.fs:g}/{self.time_unit}, {self.n_dims}-D positions in {self.space_unit}>"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_array(
        cls,
        data,
        fs: float,
        positions,
        *,
        space_unit: str = "m",
        time_unit: str = "s",
        ch_names: Sequence[str] = (),
        bad=None,
        meta: dict | None = None,
    ) -> WaveField:
        """Build a field from a (n_sites, n_times) array and (n_sites, d) positions."""
        return cls(
            data, fs, positions, space_unit, time_unit, tuple(ch_names), bad, dict(meta or {})
        )

    @classmethod
    def from_line(
        cls,
        data,
        fs: float = 1.0,
        spacing: float = 1.0,
        *,
        space_unit: str = "site",
        time_unit: str = "step",
        bad=None,
        meta: dict | None = None,
    ) -> WaveField:
        """A line of equally spaced sites: SSM state dimensions or a laminar probe.

        Parameters
        ----------
        data : ndarray, shape (n_sites, n_times)
            Site ``i`` sits at position ``i * spacing``.
        fs : float
            Samples per ``time_unit`` (1 for one sample per model step).
        spacing : float
            Distance between neighbouring sites in ``space_unit`` (1 site by default).
        """
        data = as_float_array("data", data, ndim=2)
        spacing = check_positive("spacing", spacing)
        pos = np.arange(data.shape[0], dtype=float)[:, None] * spacing
        return cls(data, fs, pos, space_unit, time_unit, (), bad, dict(meta or {}))

    @classmethod
    def from_grid(
        cls,
        frames,
        fs: float,
        pitch: float,
        *,
        space_unit: str = "m",
        time_unit: str = "s",
        mask=None,
        meta: dict | None = None,
    ) -> WaveField:
        """A regular grid (electrode array, imaging pixels) from frames.

        Parameters
        ----------
        frames : ndarray, shape (n_times, n_rows, n_cols)
            One image per sample.
        fs : float
            Frames per ``time_unit``.
        pitch : float
            Distance between neighbouring grid points in ``space_unit``.
        mask : ndarray of bool, shape (n_rows, n_cols), optional
            True where the site is usable (e.g. on cortex). Sites outside the mask are
            left out of the field (they are not sites of the recording).

        Notes
        -----
        Site positions are ``x = col * pitch`` and ``y = row * pitch``: y grows with the
        row index, so on an image drawn with row 0 at the top, directions measured
        counter-clockwise from +x appear clockwise.
        """
        frames = as_float_array("frames", frames, ndim=3)
        pitch = check_positive("pitch", pitch)
        n_t, n_r, n_c = frames.shape
        if mask is None:
            mask = np.ones((n_r, n_c), bool)
        mask = np.asarray(mask, bool)
        if mask.shape != (n_r, n_c):
            raise WaveInputError(
                f"mask must have shape {(n_r, n_c)} like one frame, got {mask.shape}."
            )
        if not mask.any():
            raise WaveInputError("mask selects no grid point; nothing to analyse.")
        rows, cols = np.nonzero(mask)
        data = frames[:, rows, cols].T.copy()
        pos = np.column_stack([cols * pitch, rows * pitch]).astype(float)
        names = tuple(f"r{r}c{c}" for r, c in zip(rows, cols))
        m = dict(meta or {})
        m.update(grid_shape=(n_r, n_c))
        return cls(data, fs, pos, space_unit, time_unit, names, None, m)

    # ------------------------------------------------------------------ transforms
    def with_data(self, data) -> WaveField:
        """Same sites and units, new samples (same number of sites)."""
        return replace(self, data=data)

    def with_bad(self, bad) -> WaveField:
        """Same field with a new bad-site mask (names or a boolean mask)."""
        if (
            len(bad)
            and isinstance(next(iter(bad)), str)
            and not (len(bad) == self.n_sites and set(map(str, bad)) <= {"True", "False"})
        ):
            known = set(self.ch_names)
            unknown = [b for b in bad if b not in known]
            if unknown:
                raise WaveInputError(
                    unknown_names_message("site name(s) in bad", unknown, self.ch_names)
                )
            bad = np.isin(self.ch_names, list(bad))
        return replace(self, bad=bad)

    def pick(self, sites) -> WaveField:
        """Keep only the given sites (indices or a boolean mask)."""
        idx = np.arange(self.n_sites)[sites]
        return replace(
            self,
            data=self.data[idx],
            positions=self.positions[idx],
            ch_names=tuple(self.ch_names[i] for i in idx),
            bad=self.bad[idx],
        )

    def crop(self, tmin: float = 0.0, tmax: float | None = None) -> WaveField:
        """Keep samples with ``tmin <= t < tmax`` (in ``time_unit``)."""
        i0 = int(round(tmin * self.fs))
        i1 = self.n_times if tmax is None else int(round(tmax * self.fs))
        if not 0 <= i0 < i1 <= self.n_times:
            raise WaveInputError(
                f"crop({tmin}, {tmax}) is outside the recording "
                f"(0 to {self.duration:g} {self.time_unit})."
            )
        return replace(self, data=self.data[:, i0:i1])

    def to_line(self) -> WaveField:
        """The same sites on their line: 1-D positions along the good sites' best-fit line.

        For a strip electrode digitised in 2-D, or a grid whose good sites are left on one
        row or column: 2-D measures cannot resolve anything across the line (their normal
        equations are singular), so :func:`~wavescope.waves.measure_velocity` refuses
        collinear 2-D layouts and names this method. Position 0 is the good site at one
        end; the line's direction (radians CCW from +x, towards increasing position) is kept
        in ``meta["line_direction"]``. Speeds measured on the line are apparent speeds
        along it (the true speed over the cosine of the angle between the wave's direction
        and the line); direction 0 means towards increasing position.
        """
        good = self.good
        if self.n_dims == 1:
            return self
        if len(good) < 2:
            raise WaveInputError(f"to_line needs at least 2 good sites, got {len(good)}.")
        p = self.positions[good]
        centre = p.mean(axis=0)
        _, _, vt = np.linalg.svd(p - centre, full_matrices=False)
        axis = vt[0]
        # orient the axis towards +x (then +y), so that the direction is reproducible
        nz = np.flatnonzero(np.abs(axis) > 1e-12)
        if len(nz) and axis[nz[0]] < 0:
            axis = -axis
        raw = (self.positions - centre) @ axis
        start = raw[good].min()
        meta = dict(self.meta)
        meta["line_direction"] = float(np.arctan2(axis[1], axis[0]))
        meta["line_origin"] = (centre + axis * start).tolist()
        return replace(self, positions=(raw - start)[:, None], meta=meta)

    def to_space_unit(self, unit: str) -> WaveField:
        """Positions converted to another length unit (m, mm, um)."""
        return replace(
            self, positions=self.positions * space_scale(self.space_unit, unit), space_unit=unit
        )


def release_pages(data) -> None:
    """Drop the pages of a read-only memory-mapped array from this process's memory.

    Pages of a file mapping that were read stay mapped, and count in the process's
    resident set (VmRSS, VmHWM), until the mapping is closed; reading a large file chunk
    by chunk would then grow the resident set to the whole file. ``madvise(MADV_DONTNEED)``
    unmaps them (the kernel keeps them in its page cache, so reading them again is cheap).
    Does nothing for ordinary arrays, for writable or copy-on-write maps (whose private
    pages would be lost), or where ``madvise`` is unavailable.

    Parameters
    ----------
    data : ndarray
        Any array; only a ``numpy.memmap`` opened with ``mode="r"`` (or a view of one)
        is affected.
    """
    if not isinstance(data, np.memmap) or getattr(data, "mode", None) != "r":
        return
    mm = getattr(data, "_mmap", None)
    advise = getattr(mm, "madvise", None)
    flag = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or flag is None:
        return
    try:
        advise(flag)
    except (OSError, ValueError):  # pragma: no cover - closed map or unsupported platform
        pass
