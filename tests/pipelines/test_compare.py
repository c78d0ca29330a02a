"""`wavescope compare` and run_comparison: known differences, units, HTML, JSON, CLI."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from paths import DAVIS2021

from wavescope.cli.main import main
from wavescope.core.validate import WaveInputError
from wavescope.datasets import grid_positions, line_positions, planar_wave
from wavescope.io.npz import write_npz
from wavescope.pipelines.compare import run_comparison, write_comparison
from wavescope.report.html import fmt, render_comparison

PITCH, FS, F0 = 1e-3, 200.0, 10.0  # m, Hz, Hz
DAVIS = DAVIS2021
DAVIS = DAVIS / "wolfie-speed_density.mat"


def cortex(seed, speed):
    """6 x 6 grid, 1 mm pitch, 10 Hz plane wave at ``speed`` m/s, 10 dB SNR."""
    return planar_wave(
        grid_positions(6, 6, PITCH),
        fs=FS,
        duration=4,
        frequency=F0,
        speed=speed,
        direction=0.5,
        snr_db=10,
        seed=seed,
        dtype=np.float64,
    )


def model(seed):
    """24 state dimensions on a line, 1 site/step wave at 0.05 cycles/step."""
    return planar_wave(
        line_positions(24),
        fs=1.0,
        duration=400,
        frequency=0.05,
        speed=1.0,
        snr_db=10,
        seed=seed,
        space_unit="site",
        time_unit="step",
        dtype=np.float64,
    )


def compare(groups, report, **kw):
    """run_comparison, rendered and written as the CLI does; the JSON dict."""
    res = run_comparison(groups, progress=False, **kw)
    res.report, res.json = str(report), str(Path(report).with_suffix(".json"))
    write_comparison(res, render_comparison(res), report)
    return res


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    groups = {
        "slow": [cortex(i, 0.2) for i in range(5)],
        "slow2": [cortex(100 + i, 0.2) for i in range(5)],  # generated like "slow"
        "fast": [cortex(10 + i, 0.4) for i in range(5)],
        "model": [model(i) for i in range(5)],
    }
    ref = DAVIS if DAVIS.exists() else None
    res = compare(
        groups,
        out / "r.html",
        band={"slow": (8, 12), "slow2": (8, 12), "fast": (8, 12), "model": (0.04, 0.06)},
        reference=ref,
    )
    return res.to_json(), out


def _test(res, prop, a, b):
    return next(
        t for t in res["tests"] if (t["property"], t["group_a"], t["group_b"]) == (prop, a, b)
    )


def test_known_difference_found_and_identical_groups_not(result):
    res, _ = result
    # speeds 0.2 vs 0.4 m/s: every fast recording is faster (5 vs 5 exact, p = 2/252)
    for prop in ("speed_median", "speed_sites_per_cycle"):
        t = _test(res, prop, "slow", "fast")
        assert t["significant"] and t["cliffs_delta"]["estimate"] == -1.0
        assert t["p_value"] == pytest.approx(2 / 252)
    # 20 vs 40 sites per cycle: the group estimates are within 3% of the truth
    s = {(x["property"], x["group"]): x for x in res["summaries"]}
    assert s[("speed_sites_per_cycle", "slow")]["estimate"] == pytest.approx(20, rel=0.03)
    assert s[("speed_sites_per_cycle", "fast")]["estimate"] == pytest.approx(40, rel=0.03)
    # same generator: no property differs after FDR correction
    same = [t for t in res["tests"] if {t["group_a"], t["group_b"]} == {"slow", "slow2"}]
    assert same and not any(t["significant"] for t in same)


def test_dimensionless_across_units_raw_only_within(result):
    res, _ = result
    assert res["units"]["model"] == "sites/step" and res["units"]["slow"] == "m/s"
    assert _test(res, "speed_sites_per_cycle", "slow", "model")["p_value"] is not None
    # model: 1 site/step / (1 site x 0.05 /step) = 20 sites per cycle, as "slow"
    s = {(x["property"], x["group"]): x for x in res["summaries"]}
    assert s[("speed_sites_per_cycle", "model")]["estimate"] == pytest.approx(20, rel=0.03)
    raw_pairs = {
        (t["group_a"], t["group_b"]) for t in res["tests"] if t["property"] == "speed_median"
    }
    assert all("model" not in p for p in raw_pairs)
    assert any("different units" in m for m in res["messages"])


def test_one_band_across_time_units_is_refused(tmp_path):
    with pytest.raises(WaveInputError, match="band per group"):
        run_comparison(
            {"c": [cortex(i, 0.2) for i in range(3)], "m": [model(i) for i in range(3)]},
            band=(8, 12),
            progress=False,
        )
    with pytest.raises(WaveInputError, match="mixes recordings"):
        run_comparison({"c": [cortex(0, 0.2), model(0), model(1)]}, progress=False)


def test_html_is_self_contained(result):
    _, out = result
    html = (out / "r.html").read_text()
    assert '<img alt="' in html and html.count('src="data:image/png;base64,') >= 6
    assert html.count('src="data:image/gif;base64,') == 1  # the phase-map animation
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<script" not in html and "<link" not in html
    for word in (
        "Findings",
        "Methods",
        "Benjamini-Hochberg",
        "Cliff",
        "Hedges",
        "FDR",
        "space-time",
    ):
        assert word.lower() in html.lower()


def _numbers(obj, acc):
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _numbers(v, acc)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        acc.add(fmt(obj))
    return acc


def test_every_number_in_the_html_tables_is_in_the_json(result):
    res, out = result
    on_disk = json.loads((out / "r.json").read_text())
    assert on_disk == res
    known = _numbers(on_disk, set())
    cells = re.findall(r"<td>([^<]*)</td>", (out / "r.html").read_text())  # numeric cells
    nums = [c for c in cells if c != "&ndash;"]
    assert len(nums) > 100
    missing = [c for c in nums if c not in known]
    assert not missing, missing[:10]
    # p-values raw and corrected are shown
    t = _test(res, "speed_median", "slow", "fast")
    assert fmt(t["p_value"]) in cells and fmt(t["p_fdr"]) in cells


def test_reference_comparison(result):
    res, out = result
    if not DAVIS.exists():
        pytest.skip(f"real data not available: {DAVIS} is absent")
    ref = {r["group"]: r for r in res["reference"]["groups"]}
    assert set(ref) == {"slow", "slow2", "fast"}  # the model group has no m/s speeds
    assert any("sites/step" in m for m in res["messages"])
    assert ref["slow"]["group_median"] == pytest.approx(0.2, rel=0.03)
    # units are mixed, so the m/s groups get their own speed figure with the reference overlay
    assert (
        "Speeds of the groups in physical units with the reference density"
        in (out / "r.html").read_text()
    )


def test_too_few_and_overwrite(tmp_path):
    groups = {"a": [cortex(i, 0.2) for i in range(3)], "b": [cortex(9, 0.3), cortex(8, 0.3)]}
    res = compare(groups, tmp_path / "r.html", band=(8, 12)).to_json()
    assert all(t["p_value"] is None for t in res["tests"])
    assert any("'b' has 2 usable" in m for m in res["messages"])
    with pytest.raises(FileExistsError, match="exists"):
        compare(groups, tmp_path / "r.html", band=(8, 12))
    res = compare({"a": groups["b"], "b": groups["b"]}, tmp_path / "s.html", band=(8, 12))
    assert all(t.p_value is None for t in res.stats.tests)
    assert all(e.estimate is None for e in res.stats.summaries)


def test_cli_end_to_end(tmp_path, capsys):
    for i in range(4):
        write_npz(tmp_path / f"slow{i}.npz", cortex(i, 0.2))
        write_npz(tmp_path / f"fast{i}.npz", cortex(20 + i, 0.4))
    b = tmp_path / "b"
    b.mkdir()
    write_npz(b / "x0.npz", cortex(40, 0.3))
    write_npz(b / "x1.npz", cortex(41, 0.3))
    metrics = tmp_path / "metrics.jsonl"
    lines = [
        {
            "step": s,
            "split": "train",
            "loss": 2.0 / s,
            "char_acc": 1 - 1 / s,
            "exact_acc": min(1.0, s / 40),
            "time": 0.1,
            "lr": 1e-3,
        }
        for s in range(1, 50, 8)
    ]
    metrics.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    argv = [
        "compare",
        *[f"slow={tmp_path}/slow{i}.npz" for i in range(4)],
        f"fast={tmp_path}/fast*.npz",
        f"few={b}/x*.npz",
        "--band",
        "8",
        "12",
        "--metrics",
        f"fast={metrics}",
        "--report",
        str(tmp_path / "out.html"),
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "speed_median" in text and "slow vs fast" in text
    # the notes are said once per kind (condensed_notes), as in the report
    assert "group 'few' has fewer than 3 usable recordings" in text
    assert f"wrote {tmp_path / 'out.html'}" in text
    res = json.loads((tmp_path / "out.json").read_text())
    assert len([i for i in res["inputs"] if i["group"] == "fast"]) == 4
    lc = res["learning"][0]
    assert lc["group"] == "fast"
    assert lc["steps_to_95_exact"] == 41 and lc["final_step"] == 49  # first s/40 >= 0.95
    assert main(argv) == 2  # outputs exist, no --overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["compare", "noequals", "--report", str(tmp_path / "z.html")]) == 2


def test_repeated_subjects_use_the_mixed_model(tmp_path):
    # 3 animals per group, 2 recordings each: speeds 0.2 vs 0.4 m/s
    groups = {
        "a": [cortex(i, 0.2) for i in range(6)],
        "b": [cortex(50 + i, 0.4) for i in range(6)],
    }
    subjects = {g: [f"{g}{i // 2}" for i in range(6)] for g in groups}
    res = compare(groups, tmp_path / "m.html", band=(8, 12), subjects=subjects).to_json()
    t = _test(res, "speed_median", "a", "b")
    assert t["test"].startswith("mixed") and t["mixed"]["df"] == 4  # 6 subjects - 2 groups
    assert t["p_value"] == t["mixed"]["p_value"] < 0.01
    # the fixed effect is the difference of group means (m/s): -0.2 within 5%
    assert t["mixed"]["estimate"] == pytest.approx(-0.2, rel=0.05)
    with pytest.raises(WaveInputError, match="subjects for"):
        run_comparison(groups, band=(8, 12), subjects={"a": ["x"]}, progress=False)


def test_files_standing_in_for_subjects_are_said_first(result, tmp_path):
    """The module fixture gives no subjects and its fields store none: the report's first
    lines and the JSON say that each file counted as an independent subject; with
    subjects given (the mixed-model test above) there is no such note."""
    res, out = result
    assert "treated as an independent subject" in res["subject_note"]
    assert all(i["subject_source"] == "file" for i in res["inputs"])
    html = (out / "r.html").read_text()
    first = html[: html.index("<h2>")]
    assert "treated as an independent subject" in first and "--subject" in first
    groups = {"a": [cortex(i, 0.2) for i in range(3)], "b": [cortex(9 + i, 0.2) for i in range(3)]}
    subjects = {g: [f"{g}{i}" for i in range(3)] for g in groups}
    given = run_comparison(groups, band=(8, 12), subjects=subjects, progress=False)
    assert given.subject_note is None and {i.subject_source for i in given.inputs} == {"given"}
    stored = {
        g: [replace(f, meta={**f.meta, "subject": f"{g}{i}"}) for i, f in enumerate(v)]
        for g, v in groups.items()
    }
    rec = run_comparison(stored, band=(8, 12), progress=False)
    assert rec.subject_note is None and {i.subject_source for i in rec.inputs} == {"recording"}


def test_a_group_without_waves_gets_a_sentence_not_a_speed():
    """Decaying modes that do not travel (as Mamba's state after an impulse) next to a
    model whose state carries a 1 site/step wave: the findings give the first group no
    speed and no direction, and say why, instead of 'median speed not measured'."""
    import sys

    from wavescope.report.findings import how_fast, which_way

    sys.path.insert(0, str(Path(__file__).parents[1] / "waves"))
    from test_route_choice import _decaying_modes

    groups = {"modes": [_decaying_modes(s) for s in range(3)], "wave": [model(i) for i in range(3)]}
    res = run_comparison(groups, progress=False)
    fast = " ".join(how_fast(res))
    assert "modes: no speed: none of its 3 recordings carries a travelling wave" in fast
    assert "wave (simulated): median speed 1" in fast  # model() fields carry their truth
    assert "modes: no direction" in " ".join(which_way(res))


def test_measured_against_learned_velocity_is_paired_by_capture_and_in_the_json():
    """Each capture's measured speed is compared with its own learned velocity (never
    paired by position), and the numbers the findings state are the JSON's. The first
    capture carries no learned velocity: it is left out, the other two are paired."""
    import dataclasses

    from wavescope.report.findings import how_fast

    learned = [None, 1.1, 0.9]  # the true speed is 1 site/step in every capture
    caps = [
        dataclasses.replace(model(i), meta={} if v is None else {"velocity": v})
        for i, v in enumerate(learned)
    ]
    res = run_comparison({"vwave": caps}, band=(0.04, 0.06), progress=False)
    js = json.loads(json.dumps(res.to_json()))
    (check,) = js["learned_velocity"]
    rows = js["recordings"]
    assert check["group"] == "vwave" and check["n"] == 2
    assert rows[0]["learned_velocity"] is None and rows[0]["learned_velocity_error"] is None
    err = [100 * abs(r["speed_median"] / v - 1) for r, v in zip(rows[1:], learned[1:])]
    assert [r["learned_velocity_error"] for r in rows[1:]] == pytest.approx(err, rel=1e-12)
    assert check["error_max"] == pytest.approx(max(err), rel=1e-12)
    assert check["learned_min"] == 0.9 and check["learned_max"] == 1.1
    # measured within 2% of 1 site/step (10 dB, 24 sites): 9% and 11% from the claims
    assert 7 < min(err) and max(err) < 14
    text = " ".join(how_fast(res))
    assert f"differ by at most {check['error_max']:.1f}%" in text and "over its 2 captures" in text


@pytest.mark.parametrize(("report", "json_path"), [("", None), ("/", None), ("r.html", "/")])
def test_report_paths_that_name_no_file_are_refused_from_python(report, json_path):
    """The CLI refused these already; the Python route raised ValueError from with_suffix."""
    from wavescope.pipelines.compare import check_report_paths

    with pytest.raises(WaveInputError, match="must name"):
        check_report_paths(report, json_path)
