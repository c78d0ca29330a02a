"""The base of the models' configs, and the checks and parsing every config shares.

Each model's config is a dataclass at the top of its model's module, with the paper's
symbols (:class:`~wavescope.models.mamba.MambaConfig`,
:class:`~wavescope.models.shift_ssm.H3Config`, :class:`~wavescope.models.vwave.VWaveConfig`
and :class:`~wavescope.models.vwave.VWaveMambaConfig`,
:class:`~wavescope.models.transformer.TransformerConfig`); the registry
(:mod:`wavescope.models.registry`) maps model names to them and holds the per-scale
defaults. Every config shares the language-model fields of :class:`LMConfig`
(``d_model`` = D, ``n_layers``, tied head, optional MLP after the mixer, ``max_len``) and
adds its mixer's own, each with its allowed values in the class's ``RULES``.
:func:`check_config` checks a config against the ``RULES`` of its class and its bases;
:func:`parse_settings` reads ``FIELD=VALUE`` text. Configs are plain dataclasses:
``dataclasses.asdict(cfg)`` gives the dict that checkpoints store and
:func:`wavescope.models.registry.config_from_dict` reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

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

    Notes
    -----
    ``RULES`` (a class variable, not a field) gives the allowed values of the fields a
    class declares, read by :func:`check_config` along the class's bases: ``("size",
    lo)`` an integer >= lo; ``("number", lo, ">" or ">=")`` a finite number; ``("choice",
    options)``; ``("bool",)``. A subclass with relations between its fields (more than one
    field's range) adds them in :meth:`check_relations`.
    """

    d_model: int = 64  # D
    n_layers: int = 2
    mlp_ratio: float = 0.0
    tie_embeddings: bool = True
    max_len: int | None = None
    norm_eps: float = 1e-5

    RULES: ClassVar[dict[str, tuple]] = {
        "d_model": ("size", 1),
        "n_layers": ("size", 1),
        "max_len": ("size", 1),
        "mlp_ratio": ("number", 0.0, ">="),
        "norm_eps": ("number", 0.0, ">"),
        "tie_embeddings": ("bool",),
    }

    def check_relations(self) -> None:
        """Raise a WaveInputError for fields that are each valid but clash (none here)."""


# ---------------------------------------------------------------------- validation
# A config is checked once when it is built (from the registry's defaults, a checkpoint or
# the command line): one from a damaged checkpoint that says ``d_model=-4`` or ``"64"`` is
# refused here, before any tensor is allocated.
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")


def _optional(cls, name: str) -> bool:
    return "None" in str(cls.__dataclass_fields__[name].type)


def _err(cls, name: str, want: str, value) -> WaveInputError:
    return WaveInputError(
        f"{cls.__name__}.{name} must be {want}, got {value!r} ({type(value).__name__})."
    )


def _rules(cls) -> dict[str, tuple]:
    """The ``RULES`` of ``cls`` and its bases (a subclass's rule for a field wins)."""
    rules: dict[str, tuple] = {}
    for klass in reversed(cls.__mro__):
        rules.update(vars(klass).get("RULES", {}))
    return rules


def check_config(config: LMConfig) -> LMConfig:
    """Check every field of ``config`` against its kind and range; return it.

    Integers given for float fields become floats. Raises
    :class:`~wavescope.core.errors.WaveInputError` naming the field, what is allowed and
    what was given (negative or string sizes, unknown choices, non-finite numbers, a
    head count that does not divide ``d_model``).
    """
    cls = type(config)
    rules = _rules(cls)
    for name in cls.__dataclass_fields__:
        value = getattr(config, name)
        rule = rules.get(name)
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
    config.check_relations()
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
