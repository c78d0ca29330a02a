"""What the report may say: each finding sentence on typed results built by hand (a
group with waves, without waves, with one usable recording, with 3 subjects), the
direction rule, the not-learned marking and the provenance in the JSON."""

import json

import numpy as np
import pandas as pd
import pytest

from wavescope.core.field import WaveField
from wavescope.pipelines.compare import (
    ComparisonResult,
    InputInfo,
    Provenance,
    _abstract,
    _direction_tests,
    _learning,
    _provenance,
    _untested_pairs,
    group_learned,
)
from wavescope.report import findings as W
from wavescope.report.html import render_comparison
from wavescope.report.text import as_cli, rate
from wavescope.stats.compare import GroupComparison, GroupEstimate, PairTest, Settings


def _result(groups: dict, *, provenance=None, learning=(), directions=None, dims=None):
    """A ComparisonResult from ``{group: [recording dict, ...]}`` (keys: subject, and
    property values); groups with 3+ values of a property get an estimate with an
    interval (the values' median and range), as compare_groups would."""
    dims = dims or {}
    inputs, recs, summaries = [], [], []
    for g, rows in groups.items():
        for i, r in enumerate(rows):
            inputs.append(
                InputInfo(g, f"{g}_{i}.npz", None, r["subject"], "m", "s", 100, 1000, 500.0,
                          [5.0, 15.0], dims.get(g, 2))
            )  # fmt: skip
            recs.append({"group": g, "samples": "waves", **r})
        for prop in ("wave_fraction", "pgd_median", "speed_median", "speed_sites_per_cycle"):
            v = np.array([r.get(prop) for r in rows if r.get(prop) is not None], float)
            subj = len({r["subject"] for r in rows if r.get(prop) is not None})
            e = GroupEstimate(prop, g, "1", v.size, subj, "median")
            if v.size >= 3:
                e.estimate, e.low, e.high = float(np.median(v)), float(v.min()), float(v.max())
            summaries.append(e)
    gnames = list(groups)
    stats = GroupComparison(
        groups=gnames,
        n_recordings={g: len(r) for g, r in groups.items()},
        n_subjects={g: len({x["subject"] for x in r}) for g, r in groups.items()},
        properties={},
        summaries=summaries,
        tests=[],
        messages=[],
        settings=Settings(),
    )
    prov = provenance or {g: Provenance("unstated", "x.npz", None, "file") for g in gnames}
    learned = {g: group_learned(list(learning), g) for g in gnames}
    res = ComparisonResult(
        wavescope_version="test", created="now", settings={"alpha": 0.05, "method": "auto"},
        inputs=inputs,
        groups=gnames, units={g: ("sites/step" if dims.get(g) == 1 else "m/s") for g in gnames},
        recordings=recs, stats=stats, reference=None, learning=list(learning), memory=None,
        messages=[], provenance=prov, learned=learned,
        directions=directions or [],
    )  # fmt: skip
    res.abstract = _abstract(stats, prov, learned, inputs, list(learning))
    return res


def _rows(n, *, wf=0.4, speed=0.3, subjects=None):
    subjects = subjects or [f"s{i}" for i in range(n)]
    return [
        {"subject": subjects[i], "wave_fraction": wf, "pgd_median": 0.5, "speed_median": speed,
         "speed_sites_per_cycle": 30.0}
        for i in range(n)
    ]  # fmt: skip


def test_group_with_waves_and_3_subjects_gets_its_median_speed_with_an_interval():
    res = _result({"cortex": _rows(3)})
    (txt, *_) = W.how_fast(res)
    assert "cortex: median speed 0.3 m/s (95% CI 0.3 to 0.3, 3 recordings)" in txt
    assert "3 recordings of 3 files" in W.what_travels(res)[0]


def test_group_without_waves_gets_no_speed_even_when_one_recording_has_one():
    # the case: waves in 0% of the samples, yet one recording carried a speed
    rows = _rows(3, wf=0.0, speed=None)
    rows[0]["speed_median"] = 0.0781
    (txt, *_) = W.how_fast(_result({"mamba": rows}))
    assert txt.startswith("mamba: no speed: none of its 3 recordings carries a travelling wave")
    assert "median speed" not in txt and "0.0781" not in txt
    assert "not a wave speed" in txt


def test_group_with_one_usable_recording_is_not_described_by_it():
    rows = _rows(3)
    rows[1]["speed_median"] = rows[2]["speed_median"] = None
    (txt, *_) = W.how_fast(_result({"cortex": rows}))
    assert "a speed in only 1 of its 3 recordings (0.3 m/s): too few (3 needed)" in txt
    assert "median speed" not in txt


def test_independent_simulations_are_named_so_and_marked_simulated():
    prov = {"cortex": Provenance.simulated("wavescope.datasets.neural_field", {"speed": 0.3})}
    res = _result({"cortex": _rows(3)}, provenance=prov)
    assert W.what_travels(res)[0].startswith(
        "cortex (simulated) (3 recordings of 3 independent simulations, 2-D array)"
    )
    assert "SIMULATED, not recorded" in W.provenance(res)[0]
    assert "speed 0.3" in W.provenance(res)[0]
    html = render_comparison(res)
    assert "<h1>Traveling waves: cortex (simulated)</h1>" in html


def _table(group, **cols):
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"group": [group] * n, **cols})


def test_uniform_directions_get_no_mean_direction_only_the_rayleigh_p():
    # three recordings 120 deg apart: the resultant is 0, Rayleigh p = 1
    d = np.deg2rad([0.0, 120.0, 240.0])
    tests = _direction_tests(_table("c", direction_mean=d), ["c"], {"c": 2}, 0.05)
    assert tests[0].test == "Rayleigh" and tests[0].preferred is False
    assert tests[0].mean_deg is None
    rows = _rows(3)
    res = _result({"c": rows}, directions=tests)
    (txt, *_) = W.which_way(res)
    assert txt.startswith("c: no preferred direction (Rayleigh p = ")
    assert "mean direction" not in txt


def test_concentrated_directions_get_their_mean_within_3_degrees():
    # 10 recordings at 30 +- 5 deg: Rayleigh p < 1e-4, circular mean within 3 deg of 30
    d = np.deg2rad(30.0 + np.linspace(-5, 5, 10))
    (t,) = _direction_tests(_table("c", direction_mean=d), ["c"], {"c": 2}, 0.05)
    assert t.preferred and t.p_value < 1e-4
    assert abs(t.mean_deg - 30.0) < 3.0
    res = _result({"c": _rows(10)}, directions=[t])
    assert W.which_way(res)[0].startswith("c: mean direction 30 deg counter-clockwise from +x")


def test_fewer_than_3_directions_are_not_tested():
    (t,) = _direction_tests(_table("c", direction_mean=[0.1, np.nan]), ["c"], {"c": 2}, 0.05)
    assert t.test is None and t.preferred is None and t.n == 1
    res = _result({"c": _rows(2)}, directions=[t])
    assert "no test of a preferred direction: 1 recording with a direction" in W.which_way(res)[0]


def test_line_direction_uses_the_binomial_test_of_recordings():
    # all forward: p = 2 * 0.5**n; 3 recordings cannot reach 0.05 (p = 0.25), 8 do (0.0078)
    (t3,) = _direction_tests(_table("m", forward_fraction=[1.0] * 3), ["m"], {"m": 1}, 0.05)
    (t8,) = _direction_tests(_table("m", forward_fraction=[1.0] * 8), ["m"], {"m": 1}, 0.05)
    assert t3.p_value == pytest.approx(0.25) and not t3.preferred
    assert t8.p_value == pytest.approx(2 * 0.5**8) and t8.preferred and t8.forward == 8
    txt3 = W.which_way(_result({"m": _rows(3)}, directions=[t3], dims={"m": 1}))[0]
    txt8 = W.which_way(_result({"m": _rows(8)}, directions=[t8], dims={"m": 1}))[0]
    assert "no preferred direction (binomial p = 0.25" in txt3
    assert "at least 6 agreeing recordings" in txt3
    assert "travels forward (towards increasing state index) in 8 of its 8" in txt8


def _run(tmp_path, name, losses, task="copy"):
    d = tmp_path / name
    d.mkdir()
    lines = [
        {"step": 10 * (i + 1), "split": "train", "loss": v, "char_acc": 0.1, "exact_acc": 0.0,
         "time": float(i)}
        for i, v in enumerate(losses)
    ]  # fmt: skip
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (d / "run.json").write_text(json.dumps({"task": {"name": task}}))
    return d


def test_a_model_at_chance_loss_is_marked_did_not_learn_wherever_it_appears(tmp_path):
    chance = np.log(26)  # 3.258: a uniform guess over the copy task's letters
    dull = _learning("mamba", _run(tmp_path, "mamba", [3.46, 3.30, 3.249]))
    good = _learning("vwave", _run(tmp_path, "vwave", [3.4, 1.2, 0.05]))
    other = _learning("x", _run(tmp_path, "x", [3.249], task="other"))
    assert dull.chance_loss == pytest.approx(chance) and dull.learned is False
    assert good.learned is True
    assert other.chance_loss is None and other.learned is None
    res = _result({"vwave": _rows(3), "mamba": _rows(3)}, learning=[good, dull])
    assert W.label(res, "mamba") == "mamba (did not learn)" and W.label(res, "vwave") == "vwave"
    assert "DID NOT LEARN (1 of 1 run): final loss 3.25 against chance 3.26" in " ".join(
        W.how_learned(res)
    )
    assert W.what_travels(res)[1].startswith("mamba (did not learn) (3 recordings")
    assert "mamba as a trained model (its loss stayed at chance" in W.abstract(res)[-1]
    html = render_comparison(res)
    assert "vwave / mamba (did not learn)</h1>" in html and "NO: loss at chance" in html


@pytest.mark.parametrize("n_dull", [0, 1, 2, 3])
def test_each_seed_is_marked_and_a_group_did_not_learn_only_when_none_of_its_seeds_did(
    tmp_path, n_dull
):
    runs = [
        _learning("mamba", _run(tmp_path, f"mamba_s{i}", [3.4, 3.3, 3.249] if i < n_dull else
                                [3.4, 1.2, 0.05]))
        for i in range(3)
    ]  # fmt: skip
    res = _result({"mamba": _rows(3)}, learning=runs)
    assert res.learned["mamba"] is {0: True, 3: False}.get(n_dull)  # mixed: None
    tag = {0: "mamba", 3: "mamba (did not learn)"}.get(
        n_dull, f"mamba ({n_dull} of 3 did not learn)"
    )
    assert W.label(res, "mamba") == tag
    assert W.abstract(res)[0].startswith(f"Compared 1 groups, {tag}: 3 recordings")
    said = " ".join(W.how_learned(res))
    if n_dull == 0:
        assert "DID NOT LEARN" not in said
    elif n_dull == 3:
        assert "DID NOT LEARN (3 of 3 runs): final loss 3.25, 3.25, 3.25" in said
        assert "mamba as a trained model" in W.abstract(res)[-1]
    else:
        names = ", ".join(f"mamba_s{i}" for i in range(n_dull))
        assert f"DID NOT LEARN ({n_dull} of 3 runs: {names}): final loss" in said
        assert "mamba as a trained model" not in " ".join(W.abstract(res))


def test_untested_pairs_name_the_group_short_of_subjects():
    def pair(a, b, sa, sb, p=None, prop="pgd_median"):
        t = PairTest(prop, a, b, "1", 4, 24, sa, sb, "difference of means")
        t.p_value = p
        return t

    tests = [
        pair("cortex", "vwave", 1, 3),
        pair("cortex", "vwave", 1, 3, prop="wave_fraction"),  # same pair: said once
        pair("cortex", "mamba", 1, 2),
        pair("vwave", "mamba", 3, 3, p=0.04),  # tested: not listed
        pair("vwave", "mamba", 3, 0, prop="speed_median"),  # mamba has no speed
        pair("vwave", "mamba", 3, 1, prop="wavelength_per_extent"),
    ]
    n = {"cortex": 1, "vwave": 3, "mamba": 3}
    assert _untested_pairs(tests, 3, n) == [
        "cortex vs vwave (cortex: 1 subject, no between-group test)",
        "cortex vs mamba (cortex: 1 subject, no between-group test)",
        "vwave vs mamba on speed_median, wavelength_per_extent (mamba: a value in 0 of 3 subjects)",
    ]
    n["mamba"] = 2
    assert _untested_pairs(tests[2:3], 3, n) == [
        "cortex vs mamba (cortex: 1 subject; mamba: 2 subjects, no between-group test)"
    ]


def test_abstract_says_what_was_compared_the_contrasts_and_what_was_not_testable():
    res = _result({"cortex": _rows(3), "m": _rows(3, wf=0.9, subjects=["a"] * 3)})
    res.abstract.not_testable = ["cortex vs m (m: 1 subject, no between-group test)"]
    a = W.abstract(res)
    assert 3 <= len(a) <= 5
    assert a[0].startswith("Compared 2 groups, cortex: 3 recordings of 3 files; m: 3 recordings")
    assert "40% of the samples in cortex (95% CI 40% to 40%); 90% of the samples in m" in a[1]
    assert a[-1].startswith(
        "Not testable: cortex vs m (m: 1 subject, no between-group test), with estimates "
        "only (a test needs 3 subjects per group)"
    )


def test_provenance_is_in_the_json_and_inferred_from_the_inputs():
    prov = {"cortex": Provenance.simulated("neural_field", {"speed": 0.3, "unit": "m/s"})}
    js = json.loads(json.dumps(_result({"cortex": _rows(3)}, provenance=prov).to_json()))
    assert js["provenance"]["cortex"] == {
        "kind": "simulated",
        "source": "neural_field",
        "truth": {"speed": 0.3, "unit": "m/s"},
        "subject_name": "independent simulation",
    }
    pos = np.arange(4.0)[:, None]
    probe = WaveField(np.zeros((4, 8)), 1.0, pos, "site", "step",
                      meta={"checkpoint": "runs/m/checkpoint.pt"})  # fmt: skip
    plain = WaveField(np.zeros((4, 8)), 1.0, pos, "site", "step")
    info = [InputInfo("g", "a.npz", "data/a.npz", "a", "site", "step", 4, 8, 1.0, None, 1)]
    assert _provenance("g", info, [probe]).kind == "trained model"
    assert _provenance("g", info, [probe]).source == "runs/m/checkpoint.pt"
    p = _provenance("g", info, [plain])
    assert (p.kind, p.source, p.subject_name) == ("unstated", "data/a.npz", "file")


def test_notes_name_each_group_with_its_own_subject_count_once():
    few = (
        "{p}: group '{g}' has {n} subject(s) (recordings of one model, animal or session are "
        "repeated measures); a test needs at least 3 subjects per group, so only estimates are "
        "given."
    )
    msgs = [few.format(p="a vs b", g="b", n=1), few.format(p="a vs b", g="b", n=0),
            few.format(p="a vs b", g="a", n=1)]  # fmt: skip
    (out,) = W.condensed_notes(msgs, {"a": 3, "b": 1})
    assert "b (1 subject) has fewer" in out and "0 subject" not in out
    assert "a has too few usable recordings for some properties" in out
    assert "Next:" in out


def test_cli_renderings_use_flags_and_hz():
    assert as_cli("Pass picks=['seeg'] to measure those") == "Pass --picks seeg to measure those"
    assert as_cli("method='xcorr'") == "--method xcorr"
    assert rate(1000.0, "s") == "1000 Hz" and rate(1.0, "step") == "1/step"


def test_three_seeds_per_model_draw_thin_runs_under_their_median(tmp_path):
    from wavescope.pipelines.compare import _learning_median
    from wavescope.report.figures import learning_figure, save_figure

    losses = ([3.0, 2.0, 1.0], [3.0, 1.0, 1.0], [3.0, 3.0, 1.0])
    runs = [
        _learning(g, _run(tmp_path, f"{g}{i}", v)) for g in ("a", "b") for i, v in enumerate(losses)
    ]
    med = _learning_median(runs)
    steps, loss, _ = med["a"]
    assert steps.tolist() == [10, 20, 30] and loss.tolist() == [3.0, 2.0, 1.0]  # exact medians
    fig = learning_figure(runs, medians=med, chance=np.log(26))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels[:2] == ["a, median of 3", "b, median of 3"]  # 6 runs: no label per run
    assert save_figure(fig).startswith(b"\x89PNG")
