"""analyses/copy_learning.py: the verdict is computed from the runs' numbers, so it must
say what the numbers show, including when a run stopped before reaching a threshold."""

import importlib.util

import pytest
from paths import ROOT


@pytest.fixture(scope="module")
def cl():
    spec = importlib.util.spec_from_file_location(
        "copy_learning", ROOT / "analyses" / "copy_learning.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(model, seed, loss_curve, exact_curve, n_params=70_000):
    curve = [[25 * (i + 1), lo, 0.5, ex] for i, (lo, ex) in enumerate(zip(loss_curve, exact_curve))]
    return {
        "model": model, "seed": seed, "n_params": n_params, "steps_done": curve[-1][0],
        "curve": curve, "lengths": [], "s_per_step": 0.1,
    }  # fmt: skip


def _res(cl, runs, length=20, n_sites=32):
    res = {"runs": runs, "table": [], "length": length, "settings_log_every": 25,
           "configs": {"vwave-mamba": {"n_sites": n_sites}}}  # fmt: skip
    for m in dict.fromkeys(r["model"] for r in runs):
        rows = [r for r in runs if r["model"] == m]
        steps = [cl._first_step(r["curve"], 3, above=cl.THRESHOLD) for r in rows]
        res["table"].append({
            "model": m, "seeds": [r["seed"] for r in rows], "seeds_not_run": [],
            "n_params": 70_000, "steps_to_95": steps,
            "steps_done": [r["steps_done"] for r in rows], "median_steps_to_95": None,
            "s_per_step": 0.1,
        })  # fmt: skip
    cl.add_common_step(res)
    return res


def _learns_at(k, n=40):
    """A curve that reaches loss 0.1 and exact 1.0 at its k-th line (step 25 k)."""
    return [3.0 if i < k - 1 else 0.1 for i in range(n)], [
        0.0 if i < k - 1 else 1.0 for i in range(n)
    ]


def test_par_and_much_faster_are_read_from_the_steps(cl):
    runs = [
        _run("transformer-alibi", 0, *_learns_at(20)),  # step 500
        _run("vwave-mamba", 0, *_learns_at(24)),  # step 600: within 2x
        _run("mamba", 0, [3.2] * 40, [0.0] * 40),  # stopped at 1000, under 3 x 600
    ]
    text = " ".join(cl.verdict(_res(cl, runs)))
    assert "learned on par with the transformers" in text
    assert "mamba not in 1000: faster, by at least 1.7x" in text


def test_a_run_that_never_learned_is_not_called_on_par(cl):
    runs = [
        _run("transformer-alibi", 0, *_learns_at(5, 80)),  # step 125 of 2000
        _run("vwave-mamba", 0, [3.2] * 80, [0.0] * 80),
        _run("mamba", 0, [3.2] * 80, [0.0] * 80),
    ]
    text = " ".join(cl.verdict(_res(cl, runs, length=300)))
    assert "did not reach 95% exact strings in 2000 steps" in text
    assert "learned much slower than the transformers" in text  # 2000 >= 3 x 125
    assert "neither reached" in text and "no difference shown" in text
    assert "ring has 32 sites, fewer than the 300 letters" in text
    assert "single runs" in text


def test_no_model_learning_says_the_claim_cannot_be_told(cl):
    runs = [_run(m, 0, [3.2] * 8, [0.0] * 8) for m in cl.MODELS]
    text = " ".join(cl.verdict(_res(cl, runs)))
    assert "cannot be told at this scale" in text
