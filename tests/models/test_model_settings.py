"""Specification: every field of a model config can be set from the command line
(``wavescope train --set FIELD=VALUE``), parsed to the field's type, with a clear error that
names the known fields and the closest one for a typo; a config's values are checked."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wavescope.cli.main import main
from wavescope.core.errors import WaveInputError
from wavescope.models.checkpoint import load_checkpoint, load_model
from wavescope.models.config import check_config, parse_settings
from wavescope.models.registry import (
    CONFIG_CLASSES,
    MODEL_NAMES,
    default_config,
    parse_config_settings,
)


def _text(value) -> str:
    return "none" if value is None else str(value)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_field_round_trips_through_its_text_form(name):
    # known truth: the registry's own defaults; written as text and parsed back, every
    # field comes back equal and of the same type
    cfg = default_config(name, "gpu")
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        parsed = parse_config_settings(name, [f"{f.name}={_text(value)}"])[f.name]
        assert parsed == value and type(parsed) is type(value), f.name


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("velocity=fixed", "fixed"),
        ("v_init=0.5", 0.5),
        ("n_sites=48", 48),
        ("tie_embeddings=false", False),
        ("tie_embeddings=Yes", True),
        ("max_len=None", None),
        ("decay=1e-3", 1e-3),
    ],
)
def test_values_are_parsed_to_the_field_type(setting, expected):
    key = setting.split("=")[0]
    assert parse_settings(CONFIG_CLASSES["vwave"], [setting]) == {key: expected}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("vinit=0.5", "no field 'vinit'; did you mean 'v_init'"),
        ("n_site=8", "did you mean 'n_sites'"),
        ("zzz=1", "known fields: d_model, n_layers"),
        ("n_sites=3.5", "n_sites takes int; could not read '3.5'"),
        ("v_init=fast", "v_init takes float"),
        ("tie_embeddings=maybe", "tie_embeddings takes bool"),
        ("v_init", "FIELD=VALUE"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(setting, message):
    with pytest.raises(WaveInputError, match=message.replace("(", r"\(")):
        parse_config_settings("vwave", [setting])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("d_model", -4, "d_model must be an integer >= 1"),
        ("d_model", "64", "d_model must be an integer >= 1, got '64'"),
        ("n_layers", 0, "n_layers must be an integer >= 1"),
        ("n_sites", 1, "n_sites must be an integer >= 2"),
        ("d_state", 2.5, "d_state must be an integer"),
        ("v_init", 0.0, "v_init must be a number > 0"),
        ("v_init", float("nan"), "v_init must be a finite number"),
        ("decay", -0.1, "decay must be a number >= 0"),
        ("velocity", "fast", "velocity must be one of 'fixed', 'channel', 'input'"),
        ("tie_embeddings", "yes", "tie_embeddings must be True or False"),
        ("max_len", 0, "max_len must be an integer >= 1"),
    ],
)
def test_config_values_are_checked(field, value, message):
    with pytest.raises(WaveInputError, match=message):
        default_config("vwave-mamba", **{field: value})


def test_check_config_makes_integer_floats_floats():
    cfg = check_config(dataclasses.replace(default_config("vwave"), v_init=2))
    assert cfg.v_init == 2.0 and isinstance(cfg.v_init, float)


def test_cli_set_fixes_a_vwave_velocity(tmp_path, capsys):
    # known truth: a fixed velocity is a buffer, not a parameter, so training leaves it
    # exactly at the value set on the command line, on every channel
    out = tmp_path / "run"
    args = ["train", "--model", "vwave", "--length", "5", "--steps", "3", "--batch-size", "2",
            "--log-every", "1", "--no-progress", "--set", "velocity=fixed", "--set",
            "v_init=0.5", "--set", "d_model=16", "--set", "n_layers=1", "--set", "n_sites=8",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["config"]["velocity"] == "fixed" and ck["config"]["v_init"] == 0.5
    model, _ = load_model(out / "checkpoint.pt")
    v = model.layers[0].mixer.shift.velocities()
    torch.testing.assert_close(v, torch.full_like(v, 0.5))
    # resuming with other settings is refused, naming the field
    assert main([*args[:-2], "--set", "v_init=0.7", "--out", str(out), "--resume"]) == 2
    assert "v_init" in capsys.readouterr().err


def test_cli_set_typo_exits_2_naming_the_closest_field(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "vwave", "--set", "vinit=0.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'v_init'" in err and "known fields" in err
    assert not out.exists()
