"""Model registry: names, default configs at two scales, builders and parameter counts.

==================  ==================  ==============================================
name                config              mixer
==================  ==================  ==============================================
mamba               MambaConfig         selective SSM with causal conv (mamba.py)
vwave-mamba         VWaveMambaConfig    Mamba with a v-Wave ring instead of the conv
shift-ssm           H3Config            H3 block with the exact shift-SSM
vwave               VWaveConfig         H3 block with the v-Wave SSM (vwave.py)
transformer-rope    TransformerConfig   causal attention, rotary positions
transformer-alibi   TransformerConfig   causal attention, ALiBi biases
==================  ==================  ==============================================

Scales: ``"cpu"`` (D = 64, 2 layers, about 33 k parameters per layer for every model,
small enough that copy length 20 trains on 2 CPU cores in minutes) and ``"gpu"``
(D = 512, 6 layers, 10-13 M parameters, Mamba d_state 32 as in Jelassi et al., v-Wave
rings of 256 sites; for copy length 300). The papers' models are larger (Jelassi et al.:
D = 1024, 12 layers); this one is smaller so that length-300 runs fit a short GPU loan.
"""

from __future__ import annotations

import math
import os

import numpy as np

from wavescope.core.validate import WaveInputError, check_option
from wavescope.models.config import LMConfig, check_config, parse_settings, unknown_field_error
from wavescope.models.mamba import MambaConfig
from wavescope.models.shift_ssm import H3Config
from wavescope.models.transformer import TransformerConfig
from wavescope.models.vwave import VWaveConfig, VWaveMambaConfig

MODEL_NAMES = (
    "mamba",
    "vwave-mamba",
    "shift-ssm",
    "vwave",
    "transformer-rope",
    "transformer-alibi",
)
SCALES = ("cpu", "gpu")

CONFIG_CLASSES = {
    "mamba": MambaConfig,
    "vwave-mamba": VWaveMambaConfig,
    "shift-ssm": H3Config,
    "vwave": VWaveConfig,
    "transformer-rope": TransformerConfig,
    "transformer-alibi": TransformerConfig,
}

# Per-scale defaults; mlp ratios are chosen so that blocks have similar parameter counts
# (Mamba ~ 6.4 D^2 without MLP; H3 4 D^2 + MLP 1.5 -> 7 D^2; attention 4 D^2 + MLP 2 -> 8 D^2
# minus Mamba's per-state extras).
_DEFAULTS = {
    "cpu": {
        "mamba": dict(d_model=64, n_layers=2, d_state=16, expand=2, d_conv=4),
        "vwave-mamba": dict(
            d_model=64,
            n_layers=2,
            d_state=16,
            expand=2,
            n_sites=32,
            velocity="channel",
            v_init=1.0,
            decay=0.05,
        ),
        "shift-ssm": dict(d_model=64, n_layers=2, n_sites=32, d_state=16, mlp_ratio=1.5),
        "vwave": dict(
            d_model=64,
            n_layers=2,
            n_sites=32,
            d_state=16,
            mlp_ratio=1.5,
            velocity="channel",
            v_init=1.0,
            decay=0.05,
        ),
        "transformer-rope": dict(
            d_model=64, n_layers=2, n_heads=4, position="rope", mlp_ratio=2.0, max_len=4096
        ),
        "transformer-alibi": dict(
            d_model=64, n_layers=2, n_heads=4, position="alibi", mlp_ratio=2.0, max_len=4096
        ),
    },
    "gpu": {
        "mamba": dict(d_model=512, n_layers=6, d_state=32, expand=2, d_conv=4),
        "vwave-mamba": dict(
            d_model=512,
            n_layers=6,
            d_state=32,
            expand=2,
            n_sites=256,
            velocity="channel",
            v_init=1.0,
            decay=0.005,
        ),
        "shift-ssm": dict(d_model=512, n_layers=6, n_sites=256, d_state=32, mlp_ratio=1.5),
        "vwave": dict(
            d_model=512,
            n_layers=6,
            n_sites=256,
            d_state=32,
            mlp_ratio=1.5,
            velocity="channel",
            v_init=1.0,
            decay=0.005,
        ),
        "transformer-rope": dict(
            d_model=512, n_layers=6, n_heads=8, position="rope", mlp_ratio=2.0, max_len=8192
        ),
        "transformer-alibi": dict(
            d_model=512, n_layers=6, n_heads=8, position="alibi", mlp_ratio=2.0, max_len=8192
        ),
    },
}


def check_model_name(name: str) -> str:
    """Raise a WaveInputError listing the valid names if ``name`` is unknown."""
    if name not in MODEL_NAMES:
        raise WaveInputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    return name


def config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    return CONFIG_CLASSES[check_model_name(name)]


def config_from_dict(name: str, d: dict) -> LMConfig:
    """Build ``name``'s config from a dict (e.g. ``dataclasses.asdict`` of one).

    Unknown keys raise a WaveInputError naming the closest known field; every value is
    checked (:func:`wavescope.models.config.check_config`).
    """
    cls = config_class(name)
    if not isinstance(d, dict):
        raise WaveInputError(f"config for {name} must be a dict, got {type(d).__name__}.")
    for key in d:
        if key not in cls.__dataclass_fields__:
            raise unknown_field_error(cls, str(key))
    return check_config(cls(**d))


def default_config(name: str, scale: str = "cpu", **overrides) -> LMConfig:
    """Default config of model ``name`` at ``scale`` ("cpu" or "gpu"), with overrides."""
    check_model_name(name)
    check_option("scale", scale, SCALES)
    d = dict(_DEFAULTS[scale][name])
    d.update(overrides)
    return config_from_dict(name, d)


def parse_config_settings(name: str, settings) -> dict:
    """Config overrides of model ``name`` from ``FIELD=VALUE`` strings (``--set``).

    Values are parsed to the field's type; an unknown field is an error naming the known
    fields and the closest one (see :func:`wavescope.models.config.parse_settings`).
    """
    return parse_settings(config_class(name), settings)


#: Largest share of the machine's memory that a model's weights may take (float32); a
#: config asking for more is refused before anything is allocated.
MAX_MEMORY_FRACTION = 0.5


def _machine_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _wave_ssm_parameters(cfg, channels: int, bias: bool) -> int:
    """Parameters of :class:`wavescope.models.vwave.WaveSSM` (C, bias, velocity)."""
    n = channels * cfg.n_sites + (channels if bias else 0)
    if cfg.velocity != "fixed":
        n += channels  # v_raw
    if cfg.velocity == "input":
        n += 2 * channels * max(1, math.ceil(channels / 16))  # v_down, v_up
    return n


def _mixer_parameters(name: str, cfg) -> int:
    """Parameters of one mixer of model ``name``, from the shapes its module creates."""
    D = cfg.d_model
    if name in ("mamba", "vwave-mamba"):
        ED, N, R = cfg.d_inner, cfg.d_state, cfg.dt_rank_
        n = D * 2 * ED  # in_proj
        n += ED * (R + 2 * N)  # x_proj
        n += R * ED + ED  # dt_proj (weight, bias)
        n += ED * N + ED  # A_log, D
        n += ED * D  # out_proj
        if name == "mamba":
            return n + ED * cfg.d_conv + ED  # depthwise causal conv (weight, bias)
        return n + _wave_ssm_parameters(cfg, ED, bias=True)
    if name in ("shift-ssm", "vwave"):
        n = 4 * (D * D + D)  # q, k, v and out projections
        n += 2 * D * cfg.d_state + 2 * D  # DiagSSM: A_log, C (D x N); log_dt, D
        if name == "shift-ssm":
            return n + D * cfg.n_sites  # ShiftSSM's C
        return n + _wave_ssm_parameters(cfg, D, bias=False)
    return 4 * D * D  # attention: qkv_proj and out_proj, no biases


def count_parameters(name: str, vocab_size: int, config: LMConfig) -> int:
    """Parameters of model ``name`` with ``config``, counted arithmetically.

    Nothing is built (not even on torch's ``meta`` device, which still creates every
    layer: a config with a million layers took minutes), so a damaged or hostile config
    is sized in microseconds; ``tests/models/test_model_settings.py`` checks the formula
    against the built models' own count.
    """
    check_model_name(name)
    D, V = config.d_model, int(vocab_size)
    hidden = int(round(config.mlp_ratio * D))
    block = D + _mixer_parameters(name, config)  # pre-norm + mixer
    if hidden > 0:
        block += D + (D * hidden + hidden) + (hidden * D + D)  # norm2, fc1, fc2
    head = 0 if config.tie_embeddings else D * V
    return V * D + config.n_layers * block + D + head  # embedding, blocks, final norm, head


def check_model_size(name: str, vocab_size: int, config: LMConfig) -> int:
    """Refuse a config whose float32 weights exceed half of this machine's memory.

    Returns the parameter count. The error names the sizes of the config, so that a
    damaged checkpoint (``d_model=200000``: 250 G parameters, 931 GiB) is recognised as such.
    """
    n = count_parameters(name, vocab_size, config)
    mem = _machine_memory_bytes()
    if mem is not None and 4 * n > MAX_MEMORY_FRACTION * mem:
        sizes = ", ".join(
            f"{k}={getattr(config, k)}"
            for k in ("d_model", "n_layers", "d_state", "n_sites", "expand", "n_heads")
            if hasattr(config, k)
        )
        raise WaveInputError(
            f"{name} with {sizes} (vocab_size={vocab_size}) has {n:,} parameters "
            f"({4 * n / 2**30:,.1f} GiB in float32), more than {MAX_MEMORY_FRACTION:.0%} of "
            f"this machine's {mem / 2**30:,.1f} GiB memory; lower the sizes (a checkpoint "
            "with such a config is damaged or was written elsewhere)."
        )
    return n


def floats_per_token(name: str, config: LMConfig, context_len: int = 1) -> int:
    """An upper estimate of the floats one token keeps per layer in a forward and backward
    pass: the widest state a mixer materialises (Mamba's scan states ``E D x N``, an H3
    block's shift and diagonal states ``D x (n_sites + d_state)``, a v-Wave ring, an
    attention row of ``context_len`` scores per head) plus about 16 D of projections,
    norms and MLP activations. Used to size a batch before it is drawn."""
    check_model_name(name)
    D = config.d_model
    hidden = int(round(config.mlp_ratio * D))
    if name in ("mamba", "vwave-mamba"):
        state = config.d_inner * (config.d_state + (config.n_sites if name == "vwave-mamba" else 0))
    elif name in ("shift-ssm", "vwave"):
        state = D * (config.n_sites + config.d_state)
    else:
        state = config.n_heads * int(context_len)
    return state + 16 * D + 2 * hidden


def check_activation_memory(
    name: str,
    config: LMConfig,
    rows: int,
    context_len: int,
    what: str,
    fix: str,
    *,
    layers: int | None = None,
) -> int:
    """Refuse ``rows`` sequences of ``context_len`` tokens whose activations (float32,
    :func:`floats_per_token` per token, for ``layers`` layers: all of them by default, as
    training keeps them for the backward pass; 1 for a probe, which keeps one layer's
    states) would not fit in memory; returns the bytes."""
    from wavescope.core.validate import check_memory

    n_layers = int(config.n_layers if layers is None else layers)
    per = floats_per_token(name, config, context_len)
    nbytes = 4 * int(rows) * int(context_len) * n_layers * per
    return check_memory(
        f"{what} ({int(rows)} x {int(context_len)} tokens through {n_layers} layer(s) of {name})",
        nbytes,
        fix,
    )


def _make_mixer(name: str):
    from wavescope.models.mamba import MambaMixer
    from wavescope.models.shift_ssm import H3Mixer
    from wavescope.models.transformer import Attention
    from wavescope.models.vwave import WaveSSM

    def wave(cfg, channels, bias):
        return WaveSSM(channels, cfg.n_sites, cfg.velocity, cfg.v_init, cfg.decay, bias=bias)

    makers = {
        "mamba": lambda cfg, i: MambaMixer(cfg),
        "vwave-mamba": lambda cfg, i: MambaMixer(cfg, context=wave(cfg, cfg.d_inner, True)),
        "shift-ssm": lambda cfg, i: H3Mixer(cfg),
        "vwave": lambda cfg, i: H3Mixer(cfg, shift=wave(cfg, cfg.d_model, False)),
        "transformer-rope": lambda cfg, i: Attention(cfg),
        "transformer-alibi": lambda cfg, i: Attention(cfg),
    }
    return makers[name]


def build_model(name: str, vocab_size: int, config: LMConfig | dict | None = None):
    """Build model ``name`` for ``vocab_size`` tokens.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    vocab_size : int
        V.
    config : dataclass config, dict or None
        None gives ``default_config(name, "cpu")``; a dict goes through
        :func:`config_from_dict`.

    Returns
    -------
    model : wavescope.models.lm.LanguageModel
    """
    from wavescope.models.lm import LanguageModel

    check_model_name(name)
    if config is None:
        config = default_config(name)
    elif isinstance(config, dict):
        config = config_from_dict(name, config)
    elif type(config) is not CONFIG_CLASSES[name]:
        raise WaveInputError(
            f"{name} needs a {CONFIG_CLASSES[name].__name__}, got {type(config).__name__}."
        )
    else:
        check_config(config)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
        raise WaveInputError(f"vocab_size must be an integer, got {vocab_size!r}.")
    if name.startswith("transformer-"):
        want = name.split("-", 1)[1]
        if config.position != want:
            raise WaveInputError(f"{name} needs position={want!r}, got {config.position!r}.")
    check_model_size(name, int(vocab_size), config)
    return LanguageModel(name, int(vocab_size), config, _make_mixer(name))


def parameter_counts(vocab_size: int, scale: str = "cpu") -> dict:
    """Parameter count of every model at its default config, ``{name: int}``."""
    return {
        n: build_model(n, vocab_size, default_config(n, scale)).num_parameters()
        for n in MODEL_NAMES
    }


def parameter_table(vocab_size: int, scales=SCALES) -> str:
    """Markdown table of parameter counts, models side by side with scales as columns."""
    counts = {s: parameter_counts(vocab_size, s) for s in scales}
    lines = ["| model | " + " | ".join(scales) + " |", "|---|" + "---:|" * len(scales)]
    for n in MODEL_NAMES:
        lines.append(f"| {n} | " + " | ".join(f"{counts[s][n]:,}" for s in scales) + " |")
    return "\n".join(lines)
