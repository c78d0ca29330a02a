"""``--summary-of all`` says when the samples it summarises are not waves (issue 20).

A synchronous oscillation has no travelling wave, yet the median over all samples of
its noise gradients is a speed (tens of m/s); the summary must name what the samples are
next to that speed and point to the wave-epoch summary. A plane wave summarised the same
way must not get the warning.
"""

import json

import pytest

from wavescope import write_npz
from wavescope.cli.main import main
from wavescope.datasets import grid_positions, planar_wave, synchronous_field

POS = grid_positions(8, 8, 0.4e-3)  # 8 x 8 sites, 2.8 mm
KW = dict(fs=500.0, duration=10.0, frequency=10.0, snr_db=10.0, seed=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fields")
    write_npz(d / "sync.npz", synchronous_field(POS, **KW))
    write_npz(d / "wave.npz", planar_wave(POS, speed=0.3, direction=0.7, **KW))
    return d


def _velocity(path, tmp_path, capsys, *opts):
    out = tmp_path / f"{path.stem}{len(opts)}.json"
    assert main(["velocity", str(path), "--json", str(out), *opts]) == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def _not_waves(summary):
    return [w for w in summary["warnings"] if "which are not waves" in w]


def test_all_samples_of_a_synchronous_field_are_called_not_waves(files, tmp_path, capsys):
    text, s = _velocity(files / "sync.npz", tmp_path, capsys, "--summary-of", "all")
    assert s["speed"]["median"] is not None  # a speed is printed: the case of the issue
    assert s["n_epochs"] == 0 and s["patterns"]["synchronous"] > 0.5  # the known truth
    (warning,) = _not_waves(s)
    assert "no wave epoch" in warning and "% synchronous" in warning
    assert "--summary-of auto" in warning
    assert "NOT WAVES" in s["speed"]["selection"]
    speed_line = next(line for line in text.splitlines() if line.startswith("speed"))
    assert "NOT WAVES: no wave epoch" in speed_line  # next to the speed itself


def test_without_epochs_the_phase_maps_alone_say_it_and_the_fix_names_surrogates(
    files, tmp_path, capsys
):
    _, s = _velocity(files / "sync.npz", tmp_path, capsys, "--n-surrogates", "0")
    assert s["samples_summarised"] == "all"  # auto without epochs
    (warning,) = _not_waves(s)
    assert "no wave epoch" not in warning and "% synchronous" in warning
    assert "n_surrogates > 0" in warning


def test_a_plane_wave_summarised_over_all_samples_is_not_flagged(files, tmp_path, capsys):
    text, s = _velocity(files / "wave.npz", tmp_path, capsys, "--summary-of", "all")
    assert s["speed"]["median"] == pytest.approx(0.3, rel=0.03)  # 10 dB, 64 sites: ~1%
    assert _not_waves(s) == [] and "NOT WAVES" not in text
