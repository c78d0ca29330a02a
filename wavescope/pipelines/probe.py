"""The probe job: a model layer's hidden states for one input, as a capture written to .npz.

One path for every model a probe reads: :func:`load_target` turns a checkpoint written by
``wavescope train``, a Hugging Face Mamba / Mamba2 folder (``save_pretrained``), a model
object or any :class:`~wavescope.models.probe.ProbeTarget` (e.g.
:class:`~wavescope.models.hf_probe.ModuleTarget` around any torch module) into a
:class:`LoadedModel`: the target, and who it is (the subject every capture of it carries).
:func:`probe_model` then captures the layer for a :class:`ProbeInput` (copy-task text,
token ids, or an impulse minus the background's response) and writes it; it returns a
:class:`ProbeResult`. torch is imported only when a job runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wavescope.core.field import WaveField
from wavescope.core.results import Result
from wavescope.core.validate import WaveInputError

__all__ = [
    "LoadedModel",
    "ProbeInput",
    "ProbeResult",
    "is_hf_folder",
    "load_target",
    "probe_model",
]


@dataclass
class LoadedModel:
    """A model ready to probe.

    Attributes
    ----------
    target : ProbeTarget
        What the probes ask for states (:mod:`wavescope.models.probe`).
    label : str
        How the model names itself (``"mamba"``, ``"MambaForCausalLM"``, a class name).
    identity : dict
        The subject of its captures (``subject``; for a checkpoint also ``checkpoint``,
        ``checkpoint_sha256``, ``seed``, ``step``), written into every capture's meta.
    """

    target: object
    label: str
    identity: dict

    @property
    def trained_here(self) -> bool:
        """A model of this package (its copy-task letters and memory curves apply)."""
        from wavescope.models.probe import ModelTarget

        return isinstance(self.target, ModelTarget)


def is_hf_folder(path) -> bool:
    """A folder with a config.json: a Hugging Face model saved with ``save_pretrained``."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    path = Path(path)
    return path.is_dir() and (path / "config.json").is_file()


def _check_device(device: str) -> None:
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise WaveInputError("--device cuda was asked for but CUDA is not available; use cpu.")


def load_target(source, *, device: str = "cpu", threads: bool = True) -> LoadedModel:
    """The model behind ``source``, as a probe target with its identity.

    Parameters
    ----------
    source : path-like, torch.nn.Module or ProbeTarget
        A checkpoint file of ``wavescope train``; a folder holding a Hugging Face Mamba /
        Mamba2 model (config.json + weights; nothing is downloaded); a model object (this
        package's, or a Hugging Face Mamba / Mamba2); or a ProbeTarget.
    device : str
        ``"cpu"`` or ``"cuda"`` (for paths: where the model is loaded).
    threads : bool
        Set torch's CPU threads for a checkpoint's model
        (:func:`wavescope.models.threads.set_default_threads`); False keeps the caller's.
    """
    from wavescope.models.probe import ModelTarget, as_probe_target

    if not isinstance(source, (str, os.PathLike)):
        target = as_probe_target(source)
        return LoadedModel(target, target.name, {})
    _check_device(device)
    path = Path(source)
    if is_hf_folder(path):
        from wavescope.models.hf_probe import HFTarget, load_hf_model

        model = load_hf_model(path, device=device)
        label = type(model).__name__
        # one HF model folder is one subject (its weights); its resolved folder names it
        return LoadedModel(HFTarget(model), label, {"subject": f"{label} {path.resolve().name}"})
    from wavescope.models.probe import checkpoint_identity, load_model
    from wavescope.models.threads import set_default_threads

    model, ckpt = load_model(path, map_location=device)
    model.to(device)
    if threads:
        set_default_threads(model)  # 2+ threads collapse on small models when a core is busy
    return LoadedModel(ModelTarget(model), model.name, checkpoint_identity(path, ckpt))


@dataclass
class ProbeInput:
    """What the probed model reads: copy-task ``text``, token ``tokens``, or (neither
    given) an impulse: ``impulse_token`` at step ``position`` among ``pad_token``, the
    capture being the response minus the pads' alone.

    Attributes
    ----------
    text : str, optional
        Letters a-z and ``_ < | >`` (pad, begin, separator, end); this package's models only.
    tokens : sequence of int, optional
        Token ids.
    length : int
        Steps of the impulse input (>= 2).
    impulse_token, pad_token : int, optional
        Default: the model's impulse token (4, the letter 'a'; a Hugging Face model: 1)
        and 0.
    position : int
        Step of the impulse (clipped to the input).
    """

    text: str | None = None
    tokens: Sequence[int] | None = None
    length: int = 64
    impulse_token: int | None = None
    pad_token: int | None = None
    position: int = 4

    def __post_init__(self):
        if self.text is not None and self.tokens is not None:
            raise WaveInputError("give text or tokens, not both.")
        if self.impulse is False and (self.impulse_token, self.pad_token) != (None, None):
            raise WaveInputError("--impulse-token/--pad-token go with --impulse.")
        if self.impulse and self.length < 2:
            raise WaveInputError(f"--length must be at least 2 steps, got {self.length}.")

    @property
    def impulse(self) -> bool:
        return self.text is None and self.tokens is None


@dataclass
class ProbeResult(Result):
    """A probe's capture and what it came from.

    Attributes
    ----------
    field : WaveField
        Sites (state index) x steps; ``meta`` holds model, layer, part, channel, the
        input and the subject.
    model : str
        The model's name (``LoadedModel.label``).
    source : str
        The input, in words.
    out : Path, optional
        Where the capture was written.
    """

    field: WaveField
    model: str
    source: str
    out: Path | None = None

    @property
    def layer(self):
        return self.field.meta.get("layer")

    @property
    def part(self) -> str:
        return self.field.meta.get("part")

    @property
    def subject(self) -> str | None:
        return self.field.meta.get("subject")

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "layer": self.layer,
            "part": self.part,
            "channel": self.field.meta.get("channel"),
            "source": self.source,
            "subject": self.subject,
            "n_sites": self.field.n_sites,
            "n_times": self.field.n_times,
            "out": None if self.out is None else str(self.out),
        }


def _capture(loaded: LoadedModel, layer, what: ProbeInput, channel, part):
    """The capture of ``what`` and its description."""
    from wavescope.models.probe import capture_states, impulse_response, text_tokens

    target = loaded.target
    if what.text is not None:
        if not loaded.trained_here:
            raise WaveInputError(
                "--input is copy-task text; give this model token ids (--tokens ID,ID,...)."
            )
        field = capture_states(target, text_tokens(what.text), layer, channel, part=part)
        return field, f"text {what.text!r}"
    if what.tokens is not None:
        tokens = [list(map(int, what.tokens))]
        field = capture_states(target, tokens, layer, channel, part=part)
        return field, f"tokens {','.join(map(str, tokens[0]))}"
    token = target.default_impulse_token if what.impulse_token is None else what.impulse_token
    pad = 0 if what.pad_token is None else what.pad_token
    position = min(what.position, what.length - 1)
    field = impulse_response(target, layer, what.length, position, token, pad, channel, part=part)
    return (
        field,
        f"impulse (token {token} at step {position} among {pad}; response minus background)",
    )


def probe_model(
    source,
    layer: int,
    what: ProbeInput | None = None,
    *,
    channel: int | None = None,
    part: str | None = None,
    device: str = "cpu",
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> ProbeResult:
    """Capture layer ``layer``'s states for an input and write them (the ``probe`` job).

    Parameters
    ----------
    source : path-like, model or ProbeTarget, or LoadedModel
        See :func:`load_target`.
    layer : int
        Layer index, 0-based (None for a :class:`~wavescope.models.hf_probe.ModuleTarget`).
    what : ProbeInput, optional
        The input (default: an impulse of 64 steps).
    channel : int, optional
        Channel to capture; None: the mean over channels.
    part : str, optional
        Which state (the target's ``parts``); default the wave-carrying one.
    device : str
    out : path-like, optional
        Write the capture here (.npz interchange format).
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    ProbeResult
    """
    from wavescope.pipelines.outputs import save

    loaded = source if isinstance(source, LoadedModel) else load_target(source, device=device)
    field, text = _capture(loaded, layer, what or ProbeInput(), channel, part)
    field.meta.update(loaded.identity)
    written = save(out, field, overwrite=overwrite) if out is not None else None
    return ProbeResult(field, loaded.label, text, written)
