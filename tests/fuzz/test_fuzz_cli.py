"""Fuzz: the command line parses and validates any arguments into a result, a usage error
or a toolkit error (exit 0 or 2), never an internal error (exit 3).

Each example picks a command and up to six of its options (from the parser itself) with
values drawn from numbers at and beyond their limits, text, empty strings, NUL bytes and
paths that are absent, folders, text files or a small valid input. The measuring or
training itself is replaced by a stub that stops once the arguments were checked (its own
tests cover it), so examples stay fast; example counts come from the hypothesis profile.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from wavescope.cli.main import build_parser, main
from wavescope.datasets import grid_positions, planar_wave
from wavescope.io import write_npz

COMMANDS = ("velocity", "train", "probe", "compare", "memory")
NUMBERS = ["1", "0", "-5", "2", "1e9", "1000000000", "99999999999999999999999", "2.5", "nan",
           "inf", "-inf", "0.05", "abc", "", "a\x00b"]  # fmt: skip


class Checked(BaseException):
    """Raised by the stubs: the arguments passed every check before the work (a
    BaseException, so that the command line's own error mapping lets it through)."""


def _options(command: str) -> list:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return [a for a in sub._actions if a.option_strings and a.dest != "help"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    f = planar_wave(grid_positions(3, 3, 1e-3), fs=100.0, duration=1.0, frequency=5.0, speed=0.3)
    write_npz(d / "rec.npz", f)
    (d / "notes.txt").write_text("not a recording\n")
    (d / "folder").mkdir()
    torch = pytest.importorskip("torch")
    from dataclasses import asdict

    from wavescope.models.registry import build_model, default_config

    cfg = default_config("mamba", d_model=8, n_layers=1, d_state=2)
    torch.save({"model_name": "mamba", "config": asdict(cfg), "vocab_size": 30,
                "model_state": build_model("mamba", 30, cfg).state_dict(), "step": 1},
               d / "ck.pt")  # fmt: skip
    return d


def paths(d):
    return st.sampled_from(
        [str(d / n) for n in ("rec.npz", "absent.npz", "notes.txt", "folder", "ck.pt")]
        + ["a\x00b.npz", ""]
    )


INTS = ["1", "0", "-5", "2", "3", "1000000000", "99999999999999999999999"]
FLOATS = ["0.5", "0", "-1", "1e30", "nan", "inf", "1e-300"]


def _values(action, d):
    """Values for an option: mostly of its own kind (so that parsing passes and the
    toolkit's checks are reached), sometimes anything."""
    name = getattr(action.type, "__name__", "")
    if action.choices:
        own = st.sampled_from(list(action.choices))
    elif action.type is int or name.endswith("_int"):
        own = st.sampled_from(INTS)
    elif action.type is float or name == "_probability":
        own = st.sampled_from(FLOATS)
    else:
        own = paths(d) | st.sampled_from(
            ["a=1", "x=y", "mamba", "cpu", "cuda", "n_layers=1000000", "dt_min=0.5", "8",
             "velocity=fixed"]
        )  # fmt: skip
    return own | own | st.sampled_from(NUMBERS)


@st.composite
def command_lines(draw, d):
    command = draw(st.sampled_from(COMMANDS))
    opts = _options(command)
    argv = [command]
    if command in ("velocity", "probe", "memory"):
        argv.append(draw(paths(d)))
    elif command == "compare":
        argv += [
            f"{g}={draw(paths(d))}"
            for g in draw(st.lists(st.sampled_from("ab"), min_size=1, max_size=3))
        ]
    for action in draw(st.lists(st.sampled_from(opts), max_size=6, unique_by=id)):
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
            continue
        n = action.nargs if isinstance(action.nargs, int) else 1
        argv += [flag, *(draw(_values(action, d)) for _ in range(n))]
    if command == "compare" and "--report" not in argv:
        argv += ["--report", "report.html"]
    if command == "memory" and "--max-lag" not in argv:
        argv += ["--max-lag", "3"]
    if command == "probe" and "--layer" not in argv:
        argv += ["--layer", "0"]
    if command == "train" and "--out" not in argv:
        argv += ["--out", str(d / "runs" / "r")]
    if command == "train" and "--model" not in argv:
        argv += ["--model", draw(st.sampled_from(["mamba", "vwave", "gpt"]))]
    return argv


def _stub(monkeypatch):
    import wavescope.models.memory_probe as memory_probe
    import wavescope.models.probe as probe
    import wavescope.models.training as training
    import wavescope.pipelines.compare as compare
    import wavescope.pipelines.recording as recording

    def checked(*a, **k):
        raise Checked

    def plan_only(model, hparams=None, *, out_dir, resume=False, nproc=1, **kw):
        training._plan(model, hparams, out_dir=out_dir, **kw, stop_after=None)
        raise Checked

    monkeypatch.setattr(recording, "measure_recording", checked)
    monkeypatch.setattr(compare, "run_comparison", checked)
    monkeypatch.setattr(training, "train", plan_only)
    monkeypatch.setattr(probe, "impulse_response", checked)
    monkeypatch.setattr(probe, "capture_states", checked)
    monkeypatch.setattr(memory_probe, "model_memory_curve", checked)


@given(data=st.data())
def test_any_command_line_gives_a_result_a_usage_error_or_a_toolkit_error(
    files, tmp_path, monkeypatch, capsys, data
):
    _stub(monkeypatch)
    argv = data.draw(command_lines(files), label="argv")
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage error (2) or --help / --version (0)
        code = exc.code
        event(f"{argv[0]}: argparse exit {code}")
    except Checked:
        code = 0
        event(f"{argv[0]}: arguments accepted")
    else:
        event(f"{argv[0]}: exit {code}")
    err = capsys.readouterr().err
    assert code in (0, 2), f"exit {code}: {err[-400:]}"
    assert "internal error" not in err
