"""The command line: velocity on every input kind, stable JSON keys, clear errors."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from wavescope import write_npz
from wavescope.cli.main import main
from wavescope.datasets import grid_positions, planar_wave

STABLE_KEYS = {
    "speed": {"median", "q25", "q75", "unit"},
    "direction": {"mean_rad", "concentration"},
    "wavelength": {"median", "unit"},
    "pgd": {"median"},
}


@pytest.fixture
def wave_npz(tmp_path):
    f = planar_wave(
        grid_positions(8, 8, 0.4e-3),
        fs=500.0,
        duration=8.0,
        frequency=10.0,
        speed=0.25,
        direction=1.2,
        snr_db=5.0,
        seed=0,
    )
    return write_npz(tmp_path / "wave.npz", f)


def test_velocity_writes_json_with_stable_keys_and_a_figure(wave_npz, tmp_path, capsys):
    out, png = tmp_path / "o.json", tmp_path / "o.png"
    assert (
        main(
            ["velocity", str(wave_npz), "--band", "8", "12", "--json", str(out), "--plot", str(png)]
        )
        == 0
    )
    s = json.loads(out.read_text())
    for key, sub in STABLE_KEYS.items():
        assert sub <= set(s[key])
    for key in ("wave_fraction", "method", "n_sites", "fs"):
        assert key in s
    assert s["speed"]["median"] == pytest.approx(0.25, rel=0.02)
    assert s["n_sites"] == 64 and s["fs"] == 500.0 and s["method"] == "phase-gradient"
    assert png.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "m/s" in printed and "deg" in printed


@pytest.mark.parametrize("method", ["circlinear", "event-time", "xcorr", "auto"])
def test_velocity_other_methods(wave_npz, method, tmp_path):
    out = tmp_path / "m.json"
    assert (
        main(
            ["velocity", str(wave_npz), "--band", "8", "12", "--method", method, "--json", str(out)]
        )
        == 0
    )
    s = json.loads(out.read_text())
    # auto with a band given follows the phase of that band
    assert s["method"] == (method if method != "auto" else "phase-gradient")
    assert s["method_choice"]["requested"] == method


def test_outputs_are_not_silently_overwritten(wave_npz, tmp_path, capsys):
    out = tmp_path / "o.json"
    out.write_text("{}")
    assert main(["velocity", str(wave_npz), "--json", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "{}"
    assert main(["velocity", str(wave_npz), "--json", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--band", "8", "300"], "Nyquist"),
        (["--band", "12", "8"], "lo < hi"),
    ],
)
def test_bad_band_gives_a_clear_error(wave_npz, args, message, capsys):
    assert main(["velocity", str(wave_npz), *args]) == 2
    assert message in capsys.readouterr().err


def test_nan_and_flat_channels_are_named(tmp_path, capsys):
    f = planar_wave(
        grid_positions(4, 4, 0.4e-3), fs=500.0, duration=4.0, frequency=10.0, speed=0.2, seed=0
    )
    data = f.data.copy()
    data[3] = np.nan
    write_npz(tmp_path / "nan.npz", f.with_data(data))
    assert main(["velocity", str(tmp_path / "nan.npz")]) == 2
    err = capsys.readouterr().err
    assert "S003" in err and "bad" in err
    data = f.data.copy()
    data[5] = 1.0
    write_npz(tmp_path / "flat.npz", f.with_data(data))
    assert main(["velocity", str(tmp_path / "flat.npz")]) == 2
    assert "flat" in capsys.readouterr().err
    # marking the channel bad makes the file usable
    assert main(["velocity", str(tmp_path / "flat.npz"), "--bad", "S005"]) == 0


def test_too_few_sites_and_corrupt_input(tmp_path, capsys):
    f = planar_wave(grid_positions(1, 2, 0.4e-3), fs=500.0, duration=4.0, frequency=10.0, speed=0.2)
    write_npz(tmp_path / "two.npz", f)
    assert main(["velocity", str(tmp_path / "two.npz")]) == 2
    assert "at least 3" in capsys.readouterr().err
    (tmp_path / "x.edf").write_bytes(b"0       garbage header" * 20)
    assert main(["velocity", str(tmp_path / "x.edf")]) == 2
    assert "could not read" in capsys.readouterr().err


def test_real_ecog_file_through_the_cli(ecog_fif, tmp_path):
    out = tmp_path / "ecog.json"
    assert main(["velocity", str(ecog_fif), "--band", "8", "20", "--json", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["n_sites"] == 320 and s["speed"]["unit"] == "m/s"


def test_demo_main_job(tmp_path):
    # --quick: the plane-wave step is the same as in the full demo
    # (tests/pipelines/test_main_job.py covers the rest of the story)
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["speed"]["median"] == pytest.approx(0.3, rel=0.01)
    assert (out / "velocity.png").exists() and (out / "recording.npz").exists()
    # --quick trains 3 seeds of each model: 3 subjects per model group in the comparison
    for model in ("vwave-mamba", "mamba"):
        assert sorted(p.name for p in (out / "runs" / model).iterdir()) == [
            "seed0", "seed1", "seed2"
        ]  # fmt: skip
    rep = json.loads((out / "report.json").read_text())
    assert rep["n_subjects"] == {"cortex": 3, "vwave-mamba": 3, "mamba": 3}
    assert main(["demo", "--out", str(out)]) == 2  # refuses to overwrite


def test_console_script_lists_every_command_and_refuses_an_unknown_one():
    # the help a user sees names each command of COMMANDS once, in order (a command whose
    # module failed to register would be missing), and a misspelt command exits 2
    from wavescope.cli.main import COMMANDS

    cmd = [sys.executable, "-m", "wavescope.cli.main"]
    r = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=True)
    listed = re.findall(r"^    (\w+)", r.stdout, flags=re.MULTILINE)
    assert listed == list(COMMANDS)
    bad = subprocess.run([*cmd, "velocty", "x.npz"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'velocty'" in bad.stderr


def test_model_commands_without_torch_exit_2_naming_the_extra(tmp_path):
    # torch made unimportable in a fresh interpreter: the command says which extra to install
    code = (
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('No module named torch')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from wavescope.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv in (["train", "--model", "mamba", "--out", str(tmp_path / "r")], ["demo", "--quick"]):
        r = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path
        )
        assert r.returncode == 2, r.stderr
        assert 'pip install "wavescope[models]"' in r.stderr and "Traceback" not in r.stderr


def test_the_package_metadata_keeps_torch_and_dask_out_of_the_plain_install():
    import tomllib
    from paths import ROOT

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = " ".join(meta["dependencies"]).lower()
    assert "torch" not in plain and "dask" not in plain and "triton" not in plain
    extras = meta["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["models"])
    assert any(d.startswith("dask") for d in extras["batch"])
