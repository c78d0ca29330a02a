"""Fuzz: a checkpoint is loaded into a model with finite weights, or refused.

A valid checkpoint of a tiny model, then damaged: config fields set to any value (negative,
huge, fractional, text, None, nested), the model name, vocabulary size or step replaced,
weights replaced by NaN, by the wrong shape or dtype, or removed, keys dropped, or the
file's bytes truncated or overwritten. The claim: :func:`load_model` returns a model whose
weights are all finite, or raises a WaveInputError, quickly and without allocating what a
damaged config asks for; example counts come from the hypothesis profile.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from wavescope.core.errors import WaveInputError  # noqa: E402
from wavescope.models.checkpoint import load_model  # noqa: E402
from wavescope.models.registry import MODEL_NAMES, build_model, default_config  # noqa: E402

CONFIGS = {"d_model": 16, "n_layers": 1, "d_state": 4, "n_sites": 8, "n_heads": 2}
VALUES = st.sampled_from(
    [-4, 0, 1, 3, 10**12, 2**63, 2.5, float("nan"), float("inf"), "64", None, [16], {"a": 1},
     True, 1e-300, "rope", "fixed"]
)  # fmt: skip


def _checkpoint(name: str) -> dict:
    fields = default_config(name).__dataclass_fields__
    cfg = default_config(name, **{k: v for k, v in CONFIGS.items() if k in fields})
    model = build_model(name, 30, cfg)
    from dataclasses import asdict

    return {
        "model_name": name, "config": asdict(cfg), "vocab_size": 30,
        "model_state": model.state_dict(), "step": 3,
    }  # fmt: skip


_CACHE: dict = {}


@st.composite
def damaged_checkpoints(draw):
    name = draw(st.sampled_from(MODEL_NAMES))
    if name not in _CACHE:
        _CACHE[name] = _checkpoint(name)
    ck = {**_CACHE[name], "config": dict(_CACHE[name]["config"])}
    ck["model_state"] = dict(ck["model_state"])
    kind = draw(st.sampled_from(
        ["intact", "config", "config", "name", "vocab", "step", "weights", "drop-key", "bytes"]
    ))  # fmt: skip
    if kind == "config":
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(sorted(ck["config"]) + ["unknown_field"]))
            ck["config"][key] = draw(VALUES)
    elif kind == "name":
        ck["model_name"] = draw(st.sampled_from([*MODEL_NAMES, "gpt", "", 7, None]))
    elif kind == "vocab":
        ck["vocab_size"] = draw(VALUES)
    elif kind == "step":
        ck["step"] = draw(VALUES)
    elif kind == "weights":
        key = draw(st.sampled_from(sorted(ck["model_state"])))
        t = ck["model_state"][key]
        how = draw(st.sampled_from(["nan", "inf", "shape", "int", "gone", "scalar"]))
        if how in ("nan", "inf") and t.is_floating_point():
            t = t.clone()
            t.view(-1)[0] = float(how)
        elif how == "shape":
            t = torch.zeros(t.numel() + 1)
        elif how == "int":
            t = t.to(torch.int64)
        elif how == "scalar":
            t = 3.0
        ck["model_state"][key] = t
        if how == "gone":
            del ck["model_state"][key]
        kind += f"-{how}"
    elif kind == "drop-key":
        ck.pop(draw(st.sampled_from(sorted(ck))))
    buf = io.BytesIO()
    torch.save(ck, buf)
    raw = buf.getvalue()
    if kind == "bytes":
        raw = bytearray(raw)
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        else:
            for _ in range(draw(st.integers(1, 8))):
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        raw = bytes(raw)
    return kind, raw


@given(damaged_checkpoints())
def test_a_damaged_checkpoint_loads_with_finite_weights_or_is_refused(tmp_path, case):
    kind, raw = case
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(raw)
    try:
        model, _ = load_model(path)
    except WaveInputError:
        event(f"{kind}: refused")
        return
    event(f"{kind}: loaded")
    assert all(bool(torch.isfinite(p).all()) for p in model.state_dict().values())
