"""One recording: read it, measure it, summarise it.

:func:`read_input` is the one reading step of every pipeline (the CLI's single path, a
batch task, a comparison input): any file :func:`wavescope.io.read_recording` reads, an
interchange ``.npz`` memory-mapped where possible, with extra bad channels merged into
the file's own. :func:`measure_recording` adds the measuring and summarising, with the
options of :class:`VelocityOptions` (the ones the command line exposes), and returns a
:class:`RecordingResult`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from wavescope.core.errors import WaveTypeError
from wavescope.core.field import WaveField
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError, check_option
from wavescope.waves.result import VelocityResult
from wavescope.waves.summary import RecordingSummary
from wavescope.waves.velocity import METHODS, measure_velocity

__all__ = ["ReadOptions", "RecordingResult", "VelocityOptions", "measure_recording", "read_input"]


@dataclass
class ReadOptions:
    """How a recording is read (shared by the single-file and the batch routes).

    Attributes
    ----------
    picks : str or list of str, optional
        Channel names to keep, or channel type(s) (e.g. ``"ecog"``) where the input
        records types (MNE, BIDS); None: the reader's default. The contract of
        :func:`wavescope.io.read_recording` (a type on another input is refused).
    projection : {"default", "plane", "sphere", "auto"} or None
        Projection of 3-D positions onto a surface (``"default"``: each reader's own).
    bad : tuple of str
        Channels to mark bad in addition to the file's own.
    mmap : bool or "auto"
        Memory-map an uncompressed interchange ``.npz`` (``"auto"``: where possible).
    widefield : WidefieldOptions, optional
        Preprocessing of frame stacks (widefield .npz, TIFF, HDF5, NWB imaging).
    options : dict
        Reader-specific options (see :data:`wavescope.io.recording.FORMAT_OPTIONS`).
    """

    picks: str | list[str] | None = None
    projection: str | None = "default"
    bad: tuple[str, ...] = ()
    mmap: bool | str = "auto"
    widefield: object = None
    options: dict = field(default_factory=dict)


@dataclass
class VelocityOptions:
    """Options of :func:`~wavescope.waves.velocity.measure_velocity` that pipelines pass on,
    plus the summary's sample selection.

    Attributes
    ----------
    band : (float, float) or None
        Pass band, cycles per time unit (None: automatic).
    method : str
        One of :data:`~wavescope.waves.velocity.METHODS`.
    summary_of : {"auto", "all", "waves"}
        Samples the summary describes (see :meth:`VelocityResult.summary`).
    extra : dict
        Further keyword arguments of ``measure_velocity`` (alpha, decimate,
        chunk_samples, generalized, n_surrogates, ...).
    """

    band: tuple[float, float] | None = None
    method: str | None = None
    summary_of: str = "auto"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.method is None:
            self.method = "auto"
        check_option("method", self.method, ("auto",) + METHODS)
        check_option("summary_of", self.summary_of, ("auto", "all", "waves"))
        if self.band is not None:
            self.band = tuple(float(b) for b in self.band)

    def kwargs(self) -> dict:
        """Keyword arguments of ``measure_velocity`` (band excluded)."""
        return {"method": self.method, **self.extra}


@dataclass
class RecordingResult(Result):
    """One measured recording: where it came from, its result and its typed summary
    (``summary.to_json()`` is what ``wavescope velocity --json`` writes)."""

    input: str | None
    result: VelocityResult
    summary: RecordingSummary

    def to_json(self) -> dict:
        return self.summary.to_json()


def read_input(source, options: ReadOptions | None = None) -> WaveField:
    """One recording as a :class:`WaveField`.

    Parameters
    ----------
    source : path-like, MNE object or WaveField
        Anything :func:`wavescope.io.read_recording` reads (MNE formats and objects, the
        interchange and widefield ``.npz``, NWB, BIDS, TIFF/HDF5 frame stacks, Blackrock
        with an electrode map), or a field (returned with the extra bad channels applied).
    options : ReadOptions, optional

    Raises
    ------
    WaveInputError
        For a file that holds several epochs (measure them from Python, or concatenate
        them into a Raw first), and for every reading problem (see the readers).
    """
    from wavescope.io.recording import read_recording, recording_format

    opt = options or ReadOptions()
    if isinstance(source, WaveField):
        field_ = read_recording(source, picks=opt.picks)
    else:
        if not isinstance(source, (str, os.PathLike)) and not hasattr(source, "info"):
            raise WaveTypeError(
                f"a recording is a path, an MNE object or a WaveField, got {type(source).__name__}."
            )
        kw = dict(opt.options)
        if recording_format(source) == "npz":
            kw.setdefault("mmap", opt.mmap)
        field_ = read_recording(
            source, picks=opt.picks, projection=opt.projection, widefield=opt.widefield, **kw
        )
        if isinstance(field_, list):
            raise WaveInputError(
                f"{source} holds {len(field_)} epochs; measure them from Python "
                "(wavescope.io.from_mne) or concatenate them into a Raw first."
            )
    if opt.bad:
        unknown = [c for c in opt.bad if c not in field_.ch_names]
        if unknown:
            raise WaveInputError(
                f"bad channel(s) {unknown} are not in the recording; it has "
                f"{field_.n_sites} channels ({', '.join(field_.ch_names[:8])}"
                f"{', ...' if field_.n_sites > 8 else ''})."
            )
        field_ = field_.with_bad(
            list(opt.bad) + [n for n, b in zip(field_.ch_names, field_.bad) if b]
        )
    return field_


def measure_recording(
    source,
    velocity: VelocityOptions | None = None,
    read: ReadOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RecordingResult:
    """Read, measure and summarise one recording.

    Parameters
    ----------
    source : path-like or WaveField
    velocity : VelocityOptions, optional
    read : ReadOptions, optional
    progress : callable, optional
        ``progress(done, total)`` in samples, after each chunk.

    Returns
    -------
    RecordingResult
        Its ``summary`` is :meth:`VelocityResult.summarise` with ``input`` set (the path,
        or None for a field given in memory).
    """
    vel = velocity or VelocityOptions()
    fld = read_input(source, read)
    result = measure_velocity(fld, vel.band, progress=progress, **vel.kwargs())
    summary = result.summarise(vel.summary_of)
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    summary.input = name
    return RecordingResult(name, result, summary)


def options_json(velocity: VelocityOptions, read: ReadOptions) -> dict:
    """The options of a run, for provenance in JSON outputs."""
    return {"velocity": asdict(velocity), "read": asdict(read)}
