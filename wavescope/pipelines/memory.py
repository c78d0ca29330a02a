"""Memory curves: of a recording (``wavescope memory``) or of a model layer
(``wavescope probe --memory-curve``, the demo's memory step).

:func:`recording_memory_curve` is the engine of ``wavescope memory``: the input sequence
comes from one channel of the file (taken out of the features) or from a ``.npy`` array,
and :func:`wavescope.waves.memory.memory_curve_field` decodes it from the remaining sites
(over contiguous time blocks of one recording, or over the epochs of an epochs file).
:func:`model_memory` loads a trained model the way the probe job does
(:func:`wavescope.pipelines.probe.load_target`), decodes random copy-task letters from a
layer's state (:func:`wavescope.models.memory_probe.model_memory_curve`) and returns a
:class:`ModelMemoryResult`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavescope.core.errors import WaveFileNotFoundError
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError

__all__ = ["ModelMemoryResult", "model_memory", "recording_memory_curve", "split_channel"]


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


@dataclass
class ModelMemoryResult(Result):
    """The memory curve of one model layer, with what names it.

    Attributes
    ----------
    curve : MemoryCurve
        Accuracy against lag, horizon and capacity in steps; ``meta`` holds the layer,
        part, features and the model's identity (its subject).
    model : str
        The model's name.
    json : Path, optional
        Where the curve's summary was written.
    """

    curve: object
    model: str
    json: Path | None = None

    @property
    def label(self) -> str:
        """``"<model> L<layer> <part>"``, the curve's name in a figure."""
        m = self.curve.meta
        return f"{self.model} L{m['layer']} {m['part']}"

    @property
    def beyond_max_lag(self) -> bool:
        """Every lag tried was above chance: the horizon is a lower bound."""
        return self.curve.horizon > int(self.curve.lags[-1])

    def to_json(self) -> dict:
        return self.curve.summary()


def model_memory(
    source,
    layer: int,
    *,
    part: str | None = None,
    n_sequences: int = 200,
    length: int = 96,
    max_lag: int = 48,
    seed: int = 0,
    device: str = "cpu",
    json: str | os.PathLike | None = None,
    **memory_kw,
) -> ModelMemoryResult:
    """The memory curve of layer ``layer`` of a trained model, written as JSON.

    Parameters
    ----------
    source : path-like, model or LoadedModel
        A checkpoint of ``wavescope train`` or one of this package's models (see
        :func:`wavescope.pipelines.probe.load_target`); the letters are the copy task's,
        so models trained elsewhere are refused.
    layer, part, n_sequences, length, max_lag, seed, **memory_kw
        As :func:`wavescope.models.memory_probe.model_memory_curve`.
    device : str
    json : path-like, optional
        Write the curve's summary here (checked beforehand by the caller).
    """
    from wavescope.models.memory_probe import model_memory_curve
    from wavescope.models.probe import check_probe_size
    from wavescope.pipelines.outputs import save
    from wavescope.pipelines.probe import LoadedModel, is_hf_folder, load_target

    hf = is_hf_folder(source)  # refused before transformers loads it
    loaded = None if hf else source
    if not hf and not isinstance(source, LoadedModel):
        loaded = load_target(source, device=device)
    if hf or not loaded.trained_here:
        raise WaveInputError(
            "--memory-curve feeds copy-task letters to the models 'wavescope train' makes; "
            "for a Hugging Face model use wavescope.models.hf_probe.hf_state_snapshots "
            "with wavescope.waves.memory.memory_curve on tokens of its vocabulary."
        )
    model = loaded.target.model
    check_probe_size(model, n_sequences, length)
    curve = model_memory_curve(
        model, layer, part=part, n_sequences=n_sequences, length=length, max_lag=max_lag,
        seed=seed, **memory_kw,
    )  # fmt: skip
    curve.meta.update(loaded.identity)  # the curve's subject: this trained model
    result = ModelMemoryResult(curve, loaded.label)
    if json is not None:
        result.json = save(json, result, indent=1)
    return result
