"""Memory curves in the comparison report: JSON "memory" key, HTML section, CLI --memory."""

import json
import re

import numpy as np
import pytest
from delay_lines import token_delay_line
from threadpoolctl import threadpool_limits

from wavescope.cli.main import main
from wavescope.core.field import WaveField
from wavescope.core.validate import WaveInputError
from wavescope.datasets import line_positions, planar_wave
from wavescope.io.curves import read_memory_curves
from wavescope.io.npz import write_npz
from wavescope.pipelines.compare import run_comparison, write_comparison
from wavescope.report.html import fmt, render_comparison
from wavescope.stats.memory import compare_memory
from wavescope.waves import memory_curve, memory_curve_field


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def register_curve(n_sites, seed):
    states, u = token_delay_line(10, 60, n_sites, 3, seed=seed)
    return memory_curve(states, u, max_lag=8, n_boot=300, seed=seed)


def field_curve(seed, fs=100.0):
    """A 'recording' at fs Hz whose sites hold the last 2 inputs (a real-valued stimulus)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=1000)
    data = np.stack([u, np.r_[0.0, u[:-1]]]) + 0.1 * rng.normal(size=(2, 1000))
    f = WaveField.from_array(data, fs, np.arange(2.0)[:, None] * 1e-3)
    return memory_curve_field(f, u, max_lag=5, n_boot=300, seed=seed)


def model_field(seed):
    """24 state dimensions on a line, 1 site/step wave at 0.05 cycles/step."""
    return planar_wave(
        line_positions(24),
        fs=1.0,
        duration=300,
        frequency=0.05,
        speed=1.0,
        snr_db=10,
        seed=seed,
        space_unit="site",
        time_unit="step",
        dtype=np.float64,
    )


@pytest.fixture(scope="module")
def curves():
    return {
        "short": [register_curve(3, s) for s in range(4)],
        "long": [register_curve(6, 10 + s) for s in range(4)],
        "cortex": [field_curve(20), field_curve(21)],
        "single": [register_curve(4, 30)],
    }


@pytest.fixture(scope="module")
def report(curves, tmp_path_factory):
    out = tmp_path_factory.mktemp("memcmp")
    res = run_comparison(
        {"model": [model_field(i) for i in range(3)]},
        band=(0.04, 0.06),
        memory=curves,
        progress=False,
    )
    res.report, res.json = str(out / "r.html"), str(out / "r.json")
    write_comparison(res, render_comparison(res), out / "r.html")
    return res.to_json(), out


def _t(mem, prop, a, b):
    return next(
        t for t in mem["tests"] if (t["property"], t["group_a"], t["group_b"]) == (prop, a, b)
    )


def _est(mem, prop, g):
    return next(e for e in mem["estimates"] if (e["property"], e["group"]) == (prop, g))


def test_memory_json_has_horizons_capacities_and_curves(report, curves):
    res, out = report
    assert json.loads((out / "r.json").read_text()) == res
    mem = res["memory"]
    g = mem["groups"]
    assert g["short"]["horizons"] == [3, 3, 3, 3] and g["long"]["horizons"] == [6] * 4
    assert g["cortex"]["horizons"] == [2, 2] and g["cortex"]["time_units"] == ["s"]
    assert g["cortex"]["horizon_times"] == pytest.approx([0.02, 0.02])  # 2 samples at 100 Hz
    for name, cs in curves.items():
        assert g[name]["capacities"] == pytest.approx([c.capacity for c in cs])
        assert [c["score"] for c in g[name]["curves"]] == [c.score.tolist() for c in cs]
    # identical horizons: the median and both ends of its interval are that horizon
    e = _est(mem, "horizon", "long")
    assert (e["estimate"], e["low"], e["high"]) == (6.0, 6.0, 6.0)
    e = _est(mem, "capacity", "short")
    assert e["low"] <= e["estimate"] <= e["high"] and e["n"] == 4
    # fewer than 3 curves: no interval, and it says so (the same rule as wave properties)
    for name in ("single", "cortex"):
        e = _est(mem, "horizon", name)
        assert e["estimate"] is None and "at least 3" in e["message"]


def test_memory_groups_are_compared_with_permutation_tests(report):
    mem = report[0]["memory"]
    t = _t(mem, "horizon", "short", "long")
    # 3 vs 6 steps in every curve: 4 vs 4 curves, exact test over C(8, 4) = 70 splits,
    # the observed split and its mirror are the most extreme: p = 2 / 70
    assert t["difference"] == -3.0 and t["p_value"] == pytest.approx(2 / 70)
    assert t["cliffs_delta"]["estimate"] == -1.0
    assert t["hedges_g"] is None  # no spread within the groups: g is undefined
    assert t["p_fdr"] is not None and t["test"] == "permutation (exact)"
    # same time unit (steps): horizons in time are compared too; cortex (s) is not
    assert _t(mem, "horizon_time", "short", "long")["difference"] == -3.0
    assert not any(
        t["property"] == "horizon_time" and "cortex" in (t["group_a"], t["group_b"])
        for t in mem["tests"]
    )
    assert any("different time units" in m for m in mem["messages"])
    # 2 curves (2 subjects) or 1: no test, and the message says why
    for other in ("cortex", "single"):
        t = _t(mem, "capacity", "long", other)
        assert t["p_value"] is None and "at least 3 subjects" in t["message"]


def test_memory_section_and_figure_in_html(report):
    res, out = report
    html = (out / "r.html").read_text()
    assert "How far back each state remembers" in html and "<h3>Memory curves</h3>" in html
    assert "Memory curves: held-out decoding score" in html  # the figure's caption
    section = html[html.index("<h3>Memory curves</h3>") :]
    section = section[: section.index("</table>")]
    cells = re.findall(r"<td>([^<]*)</td>", section)
    nums = [c for c in cells if c != "&ndash;"]
    assert len(nums) >= 5 * 11  # 11 curves: max lag, chance, horizon, its time, capacity

    def numbers(obj, acc):
        if isinstance(obj, dict):
            for v in obj.values():
                numbers(v, acc)
        elif isinstance(obj, list):
            for v in obj:
                numbers(v, acc)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            acc.add(fmt(obj))
        return acc

    known = numbers(res["memory"], set())
    assert [c for c in nums if c not in known] == []  # every number comes from the JSON
    assert fmt(_t(res["memory"], "horizon", "short", "long")["p_value"]) in html


def test_read_memory_curves_accepts_nested_json_and_refuses_others(tmp_path):
    c = register_curve(3, 0).summary()
    p = tmp_path / "nested.json"
    p.write_text(json.dumps({"model": "x", "memory_curve": c, "more": [c, {"a": 1}]}))
    assert [x["horizon"] for x in read_memory_curves(p)] == [3, 3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"score": [1.0], "horizon": 1}))
    with pytest.raises(WaveInputError, match="lacks"):
        read_memory_curves(bad)
    with pytest.raises(WaveInputError, match="no such"):
        read_memory_curves(tmp_path / "nope.json")
    with pytest.raises(WaveInputError, match="non-empty"):
        compare_memory({})


def test_cli_compare_with_memory(tmp_path, capsys):
    for i in range(3):  # a comparison needs 3 recordings in some group
        write_npz(tmp_path / f"m{i}.npz", model_field(i))
    paths = {}
    for g, n in (("short", 3), ("long", 5)):
        for s in range(3):
            paths.setdefault(g, []).append(tmp_path / f"{g}{s}.json")
            paths[g][-1].write_text(json.dumps(register_curve(n, s).summary()))
    # one curve written by `wavescope memory --json` from a recording with a stim channel
    rng = np.random.default_rng(5)
    u = rng.integers(0, 3, 1500)
    data = np.vstack([np.eye(3)[u].T, np.eye(3)[np.r_[0, u[:-1]]].T, u[None]])
    data = data + np.r_[0.05 * rng.normal(size=(6, 1500)), np.zeros((1, 1500))]
    names = [f"c{i}" for i in range(6)] + ["stim"]
    rec = WaveField.from_array(data, 50.0, np.arange(7.0)[:, None] * 1e-3, ch_names=names)
    write_npz(tmp_path / "rec.npz", rec)
    mj = tmp_path / "rec_memory.json"
    argv = ["memory", str(tmp_path / "rec.npz"), "--input-channel", "stim", "--max-lag", "4"]
    assert main(argv + ["--json", str(mj)]) == 0
    assert json.loads(mj.read_text())["horizon"] == 2
    argv = [
        "compare",
        f"model={tmp_path}/m*.npz",
        "--band",
        "0.04",
        "0.06",
        "--memory",
        *[f"{g}={p}" for g, ps in paths.items() for p in ps],
        "--memory",
        f"rec={mj}",
        "--report",
        str(tmp_path / "out.html"),
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "memory group" in text and "short vs long" in text
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["memory"]["groups"]["long"]["horizons"] == [5, 5, 5]
    assert res["memory"]["groups"]["rec"]["horizons"] == [2]
    assert res["memory"]["groups"]["rec"]["files"] == [str(mj)]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    argv2 = argv[:-3] + ["--memory", f"x={bad}", "--report", str(tmp_path / "o2.html")]
    assert main(argv2) == 2
    assert "no memory curve" in capsys.readouterr().err
