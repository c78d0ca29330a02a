"""`wavescope memory`: end to end on a recording with an input channel, JSON keys, errors."""

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from wavescope import write_npz
from wavescope.cli.main import main
from wavescope.core.field import WaveField
from wavescope.waves.memory import as_inputs

N_SITES, VOCAB, N_TIMES, FS = 4, 3, 2000, 100.0  # shift register of 4 sites, Hz

SUMMARY_KEYS = {
    "lags",
    "score",
    "ci_low",
    "ci_high",
    "se",
    "chance",
    "criterion",
    "above",
    "horizon",
    "capacity",
    "metric",
    "decoder",
    "dt",
    "time_unit",
    "n_sequences",
    "n_splits",
    "meta",
    "horizon_time",
}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def recording(kind="tokens", seed=0):
    """A 'recording' whose first N_SITES * VOCAB channels are a shift register of the
    one-hot input (site i holds u[t - i]) plus noise, and whose last channel, 'stim',
    carries the input itself (tokens) or a real-valued input (values)."""
    rng = np.random.default_rng(seed)
    if kind == "tokens":
        u = rng.integers(0, VOCAB, N_TIMES)
        code = np.eye(VOCAB)[u].T  # (VOCAB, N_TIMES)
    else:
        u = rng.normal(size=N_TIMES)
        code = np.repeat(u[None], VOCAB, axis=0)
    data = np.zeros((N_SITES * VOCAB + 1, N_TIMES))
    for i in range(N_SITES):
        data[i * VOCAB : (i + 1) * VOCAB, i:] = code[:, : N_TIMES - i]
    data[:-1] += 0.05 * rng.normal(size=(N_SITES * VOCAB, N_TIMES))
    data[-1] = u
    names = [f"c{i}" for i in range(N_SITES * VOCAB)] + ["stim"]
    pos = np.arange(data.shape[0])[:, None] * 1e-3
    return WaveField.from_array(data, FS, pos, ch_names=names), u


def test_memory_cli_input_channel_end_to_end(tmp_path, capsys):
    fld, _ = recording()
    src = write_npz(tmp_path / "rec.npz", fld)
    out, png = tmp_path / "m.json", tmp_path / "m.png"
    argv = ["memory", str(src), "--input-channel", "stim", "--max-lag", "8"]
    assert main(argv + ["--json", str(out), "--plot", str(png)]) == 0
    s = json.loads(out.read_text())
    assert SUMMARY_KEYS <= set(s)
    assert s["metric"] == "accuracy" and s["meta"]["input_kind"] == "tokens"
    assert s["horizon"] == N_SITES  # the shift register holds 4 steps
    assert s["horizon_time"] == pytest.approx(N_SITES / FS)  # in seconds
    assert s["meta"]["n_sites_used"] == N_SITES * VOCAB  # the input channel is not a feature
    assert s["meta"]["input_source"] == {"channel": "stim"}
    assert len(s["score"]) == 9 and s["n_sequences"] == 10
    printed = capsys.readouterr().out
    assert "horizon    4 steps = 0.04 s" in printed and "capacity" in printed
    assert png.stat().st_size > 5_000
    # outputs are not replaced without --overwrite
    assert main(argv + ["--json", str(out)]) == 2
    assert main(argv + ["--json", str(out), "--overwrite", "--splits", "4"]) == 0
    assert json.loads(out.read_text())["n_splits"] == 4


def test_memory_cli_inputs_file_with_real_values(tmp_path):
    fld, u = recording("values", seed=1)
    src = write_npz(tmp_path / "rec.npz", fld.pick(np.arange(N_SITES * VOCAB)))
    np.save(tmp_path / "u.npy", u)
    out = tmp_path / "m.json"
    argv = ["memory", str(src), "--inputs", str(tmp_path / "u.npy"), "--max-lag", "7"]
    assert main(argv + ["--json", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["metric"] == "r2" and s["chance"] == 0.0
    assert s["horizon"] == N_SITES
    # three copies of u[t - tau] with noise sd 0.05: R^2 = 1 / (1 + 0.05^2 / 3) ~ 0.999
    assert min(s["score"][:N_SITES]) > 0.99


def test_input_kind_rule():
    assert as_inputs(np.array([0.0, 1.0, 2.0, 1.0])).dtype == np.int64  # integer-valued
    assert as_inputs(np.array([0.0, 0.5, 1.0])).dtype == np.float64  # fractional
    assert as_inputs(np.arange(65.0)).dtype == np.float64  # too many distinct values
    assert as_inputs(np.arange(65.0), "tokens").dtype == np.int64


def test_memory_cli_bad_input_exits_2(tmp_path, capsys):
    fld, u = recording()
    src = write_npz(tmp_path / "rec.npz", fld)
    base = ["memory", str(src), "--max-lag", "8"]
    assert main(base + ["--input-channel", "nope"]) == 2
    assert "no channel named 'nope'" in capsys.readouterr().err
    np.save(tmp_path / "short.npy", u[:100])
    assert main(base + ["--inputs", str(tmp_path / "short.npy")]) == 2
    assert "2000 samples" in capsys.readouterr().err
    np.save(tmp_path / "const.npy", np.zeros(N_TIMES, int))
    assert main(base + ["--inputs", str(tmp_path / "const.npy")]) == 2
    assert "constant" in capsys.readouterr().err
    assert main(base + ["--input-channel", "stim", "--splits", "12"]) == 2
    assert "n_blocks" in capsys.readouterr().err
    assert main(["memory", str(src), "--input-channel", "stim", "--max-lag", "5000"]) == 2
    assert "max_lag" in capsys.readouterr().err
    np.save(tmp_path / "real.npy", np.random.default_rng(0).normal(size=N_TIMES))
    assert main(base + ["--inputs", str(tmp_path / "real.npy"), "--decoder", "logistic"]) == 2
    assert "logistic" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: one input source is required
        main(base)
    assert exc.value.code == 2
