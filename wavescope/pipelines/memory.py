"""The memory curve of a recording: read it, take the input sequence, decode.

:func:`recording_memory_curve` is the engine of ``wavescope memory``: the input sequence
comes from one channel of the file (taken out of the features) or from a ``.npy`` array,
and :func:`wavescope.waves.memory.memory_curve_field` decodes it from the remaining sites
(over contiguous time blocks of one recording, or over the epochs of an epochs file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.validate import WaveInputError

__all__ = ["recording_memory_curve", "split_channel"]


def split_channel(field, name: str):
    """(the field without channel ``name``, that channel's samples)."""
    if name not in field.ch_names:
        import difflib

        close = difflib.get_close_matches(name, field.ch_names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(field.ch_names[:12]) + (", ..." if field.n_sites > 12 else "")
        raise WaveInputError(f"no channel named {name!r}.{hint} The channels are: {shown}.")
    i = field.ch_names.index(name)
    if field.n_sites < 2:
        raise WaveInputError(f"{name!r} is the only channel: no sites are left as features.")
    rest = [j for j in range(field.n_sites) if j != i]
    return field.pick(rest), np.asarray(field.data[i]).copy()


def _read_npy(path) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise WaveFileNotFoundError(f"{p}: no such file.")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as exc:
        raise WaveInputError(
            f"{p}: not a .npy array ({type(exc).__name__}: {exc}); save it with numpy.save."
        ) from None


def recording_memory_curve(
    path,
    max_lag: int,
    *,
    input_channel: str | None = None,
    inputs: str | os.PathLike | None = None,
    input_type: str = "auto",
    n_blocks: int = 10,
    **curve_kw,
):
    """The memory curve of a recording for a known input sequence.

    Parameters
    ----------
    path : path-like
        A recording (anything :func:`wavescope.io.read_recording` reads).
    max_lag : int
        Largest lag, samples.
    input_channel : str, optional
        The channel holding the input (exactly one of ``input_channel`` and ``inputs``).
    inputs : path-like, optional
        A ``.npy`` input sequence, shape (n_times,) or (n_epochs, n_times).
    input_type : {"auto", "tokens", "values"}
    n_blocks : int
        Contiguous time blocks of one recording (the units of cross-validation).
    **curve_kw
        Passed to :func:`~wavescope.waves.memory.memory_curve_field` (decoder, n_splits,
        criterion_se, seed).

    Returns
    -------
    MemoryCurve
        Its ``meta`` records the input and where it came from.
    """
    from wavescope.io import read_recording
    from wavescope.waves.memory import as_inputs, memory_curve_field

    if (input_channel is None) == (inputs is None):
        raise WaveInputError("give exactly one of input_channel and inputs.")
    field = read_recording(path)
    fields = field if isinstance(field, list) else [field]
    if input_channel is not None:
        pairs = [split_channel(f, input_channel) for f in fields]
        fields = [f for f, _ in pairs]
        raw = np.stack([u for _, u in pairs])
        source = {"channel": input_channel}
    else:
        raw = np.asarray(_read_npy(inputs))
        if raw.ndim == 1:
            raw = raw[None]
        source = {"file": os.fspath(inputs)}
    if raw.ndim != 2 or raw.shape[0] != len(fields) or raw.shape[1] != fields[0].n_times:
        raise WaveInputError(
            f"the inputs have shape {np.shape(raw)} for {len(fields)} recording(s) of "
            f"{fields[0].n_times} samples: give shape ({fields[0].n_times},) for one recording"
            f" or ({len(fields)}, {fields[0].n_times}) for epochs."
        )
    u = as_inputs(raw, input_type)
    if len(fields) == 1:
        curve = memory_curve_field(fields[0], u[0], max_lag, n_blocks=n_blocks, **curve_kw)
    else:
        curve = memory_curve_field(fields, list(u), max_lag, **curve_kw)
    curve.meta["input"] = os.fspath(path)
    curve.meta["input_source"] = source
    return curve
