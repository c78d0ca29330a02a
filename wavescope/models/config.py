"""Dataclass configs of the models, with the papers' symbols.

Every config shares the language-model fields of :class:`LMConfig` (``d_model`` = D,
``n_layers``, tied head, optional MLP after the mixer, ``max_len``) and adds its mixer's
own fields. Configs are plain dataclasses: ``dataclasses.asdict(cfg)`` gives the dict that
checkpoints store and :func:`wavescope.models.registry.config_from_dict` reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wavescope.core.errors import WaveInputError


@dataclass
class LMConfig:
    """Fields shared by every model.

    Attributes
    ----------
    d_model : int
        D, the width of the residual stream.
    n_layers : int
        Number of residual blocks.
    mlp_ratio : float
        Hidden width of the MLP that follows the mixer in each block, in units of D;
        0 means no MLP (Mamba's blocks have none).
    tie_embeddings : bool
        Share the token embedding with the output head.
    max_len : int or None
        Longest sequence the model accepts (tokens); None means no limit. SSMs have none;
        for transformers it is a memory guard (attention is O(L^2)), not a positional
        table: RoPE and ALiBi are defined at every length.
    norm_eps : float
        Epsilon of the RMSNorms.
    """

    d_model: int = 64
    n_layers: int = 2
    mlp_ratio: float = 0.0
    tie_embeddings: bool = True
    max_len: int | None = None
    norm_eps: float = 1e-5


@dataclass
class MambaConfig(LMConfig):
    """Mamba (Gu & Dao 2024).

    Attributes
    ----------
    d_state : int
        N, the number of states per channel of the selective SSM.
    expand : int
        E, the inner width is E * D.
    d_conv : int
        Width of the causal depthwise convolution.
    dt_rank : int or None
        Rank of the projection to Delta; None gives ceil(D / 16).
    dt_min, dt_max : float
        Range of the initial step Delta (log-uniform).
    dt_init_floor : float
        Smallest initial Delta.
    """

    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank_(self) -> int:
        return self.dt_rank if self.dt_rank is not None else math.ceil(self.d_model / 16)


@dataclass
class WaveFields:
    """Fields of the v-Wave dynamics (mixed into the v-Wave configs).

    Attributes
    ----------
    n_sites : int
        N_w, the number of sites of the ring that carries the wave.
    velocity : {"fixed", "channel", "input"}
        How the velocity v (sites per step) is set: a fixed buffer, one learned value per
        channel, or input dependent (v_t = softplus(w . x_t + b), like Mamba's Delta).
    v_init : float
        Initial (or fixed) velocity in sites per step.
    decay : float
        Amplitude decay per site travelled (A = -decay + i omega_k): content that has
        travelled s sites is scaled by exp(-decay * s), which forgets what wraps around the
        ring. 0 gives a lossless ring.
    """

    n_sites: int = 32
    velocity: str = "channel"
    v_init: float = 1.0
    decay: float = 0.1


@dataclass
class VWaveMambaConfig(WaveFields, MambaConfig):
    """v-Wave Mamba: Mamba whose causal convolution is a v-Wave shift register.

    Mamba's width-``d_conv`` causal conv is, in step mode, a shift register of the last
    ``d_conv`` inputs read out by learned weights (a shift-SSM at v = 1). Here it is
    replaced by the v-Wave ring of ``n_sites`` sites at velocity v, read out by learned
    weights over the sites (see :mod:`wavescope.models.vwave`); ``d_conv`` is unused.
    """


@dataclass
class H3Config(LMConfig):
    """H3-style block with the shift-SSM (Fu, Dao et al. 2023).

    Attributes
    ----------
    n_sites : int
        N, the length of the shift register (the FIR length of the shift-SSM).
    d_state : int
        N of the diagonal SSM applied to the product k * v.
    dt_min, dt_max : float
        Range of the diagonal SSM's fixed steps (log-uniform over channels).
    """

    n_sites: int = 32
    d_state: int = 16
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    mlp_ratio: float = 1.0


@dataclass
class VWaveConfig(WaveFields, H3Config):
    """H3-style block whose shift-SSM is the v-Wave SSM (Keller 2024)."""


@dataclass
class TransformerConfig(LMConfig):
    """Causal transformer with RoPE or ALiBi positions.

    Attributes
    ----------
    n_heads : int
        Number of attention heads (D must be divisible by it).
    position : {"rope", "alibi"}
        Positional scheme. Both extrapolate to any length; ``max_len`` only guards memory.
    rope_base : float
        Base of RoPE's frequencies.
    """

    n_heads: int = 4
    position: str = "rope"
    rope_base: float = 10000.0
    mlp_ratio: float = 1.0
    max_len: int | None = 4096


# ---------------------------------------------------------------------- validation
# Allowed values of the fields, checked once when a config is built (from the registry's
# defaults, a checkpoint or the command line): kind, then a lower bound for numbers or the
# choices for strings. Sizes are integers >= 1; a config from a damaged checkpoint that
# says ``d_model=-4`` or ``"64"`` is refused here, before any tensor is allocated.
_RULES: dict[str, tuple] = {
    "d_model": ("size", 1),
    "n_layers": ("size", 1),
    "d_state": ("size", 1),
    "expand": ("size", 1),
    "d_conv": ("size", 1),
    "dt_rank": ("size", 1),
    "n_sites": ("size", 2),
    "n_heads": ("size", 1),
    "max_len": ("size", 1),
    "mlp_ratio": ("number", 0.0, ">="),
    "norm_eps": ("number", 0.0, ">"),
    "dt_min": ("number", 0.0, ">"),
    "dt_max": ("number", 0.0, ">"),
    "dt_init_floor": ("number", 0.0, ">"),
    "v_init": ("number", 0.0, ">"),
    "decay": ("number", 0.0, ">="),
    "rope_base": ("number", 1.0, ">"),
    "velocity": ("choice", ("fixed", "channel", "input")),
    "position": ("choice", ("rope", "alibi")),
    "tie_embeddings": ("bool",),
}

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")


def _optional(cls, name: str) -> bool:
    return "None" in str(cls.__dataclass_fields__[name].type)


def _err(cls, name: str, want: str, value) -> WaveInputError:
    return WaveInputError(
        f"{cls.__name__}.{name} must be {want}, got {value!r} ({type(value).__name__})."
    )


def check_config(config: LMConfig) -> LMConfig:
    """Check every field of ``config`` against its kind and range; return it.

    Integers given for float fields become floats. Raises
    :class:`~wavescope.core.errors.WaveInputError` naming the field, what is allowed and
    what was given (negative or string sizes, unknown choices, non-finite numbers, a
    head count that does not divide ``d_model``).
    """
    cls = type(config)
    for name in cls.__dataclass_fields__:
        value = getattr(config, name)
        rule = _RULES.get(name)
        if rule is None:
            continue
        if value is None:
            if _optional(cls, name):
                continue
            raise _err(cls, name, "set (None is not allowed)", value)
        kind = rule[0]
        if kind == "size":
            if isinstance(value, bool) or not isinstance(value, int) or value < rule[1]:
                raise _err(cls, name, f"an integer >= {rule[1]}", value)
        elif kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value):
                raise _err(cls, name, "a finite number", value)
            if (rule[2] == ">" and not value > rule[1]) or (rule[2] == ">=" and value < rule[1]):
                raise _err(cls, name, f"a number {rule[2]} {rule[1]:g}", value)
            setattr(config, name, float(value))
        elif kind == "choice":
            if value not in rule[1]:
                raise _err(cls, name, "one of " + ", ".join(map(repr, rule[1])), value)
        elif kind == "bool" and not isinstance(value, bool):
            raise _err(cls, name, "True or False", value)
    # one rule for every model with the field, whatever its class (the shift-SSM's H3
    # config once accepted dt_min > dt_max, which Mamba's refused)
    if hasattr(config, "dt_min") and hasattr(config, "dt_max") and config.dt_max < config.dt_min:
        raise WaveInputError(
            f"{cls.__name__}: dt_max={config.dt_max:g} is below dt_min={config.dt_min:g}; "
            "the initial steps are drawn from [dt_min, dt_max]: swap them."
        )
    if isinstance(config, TransformerConfig):
        if config.d_model % config.n_heads:
            raise WaveInputError(
                f"{cls.__name__}: d_model={config.d_model} must be divisible by "
                f"n_heads={config.n_heads}."
            )
        if config.position == "rope" and (config.d_model // config.n_heads) % 2:
            raise WaveInputError(
                f"{cls.__name__}: RoPE rotates pairs of features, so the head size "
                f"d_model / n_heads = {config.d_model // config.n_heads} must be even; "
                "change d_model or n_heads."
            )
    return config


def field_names(cls) -> tuple[str, ...]:
    """Names of the fields of config class ``cls``, in declaration order."""
    return tuple(cls.__dataclass_fields__)


def parse_value(cls, name: str, text: str):
    """Parse the command-line text ``text`` for field ``name`` of ``cls`` to its type.

    ``int`` and ``float`` fields take numbers, ``bool`` fields true/false (yes/no, on/off,
    1/0), string fields their text, and optional fields also ``none``.
    """
    fields = cls.__dataclass_fields__
    if name not in fields:
        raise unknown_field_error(cls, name)
    hint = str(fields[name].type)
    low = text.strip().lower()
    if "None" in hint and low in _NONE:
        return None
    try:
        if hint.startswith("bool"):
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError
        if hint.startswith("int"):
            return int(low)
        if hint.startswith("float"):
            return float(low)
    except ValueError:
        kind = hint.split(" |")[0]
        extra = " or none" if "None" in hint else ""
        raise WaveInputError(
            f"{cls.__name__}.{name} takes {kind}{extra}; could not read {text!r}."
        ) from None
    return text.strip()


def unknown_field_error(cls, name: str) -> WaveInputError:
    """The error for a field ``name`` that ``cls`` does not have, naming the closest."""
    import difflib

    names = field_names(cls)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return WaveInputError(
        f"{cls.__name__} has no field {name!r}; {hint}known fields: {', '.join(names)}."
    )


def parse_settings(cls, settings) -> dict:
    """``["velocity=fixed", "v_init=0.5"]`` -> ``{"velocity": "fixed", "v_init": 0.5}``.

    Each setting is ``FIELD=VALUE`` for a field of config class ``cls``; values are parsed
    to the field's type (:func:`parse_value`). A field given twice keeps the last value.
    """
    out = {}
    for item in settings or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise WaveInputError(
                f"--set takes FIELD=VALUE (e.g. --set v_init=0.5), got {item!r}; fields of "
                f"{cls.__name__}: {', '.join(field_names(cls))}."
            )
        out[key] = parse_value(cls, key, text)
    return out
