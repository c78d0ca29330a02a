"""Comparisons under the null keep their false-positive rate when subjects repeat.

Two groups are drawn from one distribution in a nested design: each subject has its own
level (a preferred direction, a mean value) and several recordings scattered around it,
the way channels of one array or seeds of one model share what their subject has. A
test that exchanged single recordings would treat them as independent and reject far
more often than alpha (43% of replicates for directions with 3 subjects x 4 recordings).
The rejection rate over ``N_REPLICATES`` replicates must stay at most alpha + 0.03: with
200 replicates the binomial SD of a rate of 0.05 is 0.015, so the bound is 2 SD above
alpha, and a recording-level test (rates of 0.3-0.6) fails it by a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from wavescope.core.circular import wrap
from wavescope.stats.compare import Settings, compare_values
from wavescope.stats.tests import permutation_test

ALPHA = 0.05
N_REPLICATES = 200
N_SUBJECTS = 4  # per group: C(8, 4) = 70 splits, smallest two-sided p 2/70 < alpha
N_RECORDINGS = 4  # per subject
SETTINGS = Settings(n_permutations=999, n_boot=50, alpha=ALPHA)


def _nested(rng, circular: bool):
    """Values and subject labels of one group: subject levels with a between-subject SD
    3x the within-subject SD (directions: subjects point anywhere, recordings within
    0.3 rad of their subject's direction)."""
    level = rng.uniform(-np.pi, np.pi, N_SUBJECTS) if circular else rng.normal(0, 3, N_SUBJECTS)
    values = np.repeat(level, N_RECORDINGS) + rng.normal(
        0, 0.3 if circular else 1, level.size * N_RECORDINGS
    )
    subjects = np.repeat(np.arange(N_SUBJECTS), N_RECORDINGS)
    return (wrap(values) if circular else values), subjects


def _rejection_rate(circular: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(N_REPLICATES):
        (xa, sa), (xb, sb) = _nested(rng, circular), _nested(rng, circular)
        _, (test,) = compare_values(
            "direction_mean" if circular else "pgd_median",
            {"a": xa, "b": xb},
            {"a": sa, "b": np.char.add("b", sb.astype(str))},
            circular=circular,
            settings=SETTINGS,
            rng=rng,
        )
        rejected += test.p_value is not None and test.p_value < ALPHA
    return rejected / N_REPLICATES


@pytest.mark.parametrize("circular", [True, False], ids=["directions", "continuous"])
def test_nested_design_rejects_a_true_null_at_most_alpha(circular):
    assert _rejection_rate(circular, seed=11) <= ALPHA + 0.03


def test_recording_level_permutation_would_not_be_calibrated():
    """The same nested directions, exchanged recording by recording: the bound above can
    fail (this is the error the subject-level test removes)."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(N_REPLICATES):
        (xa, _), (xb, _) = _nested(rng, True), _nested(rng, True)
        p = permutation_test(
            xa, xb, lambda x, y, axis=-1: wrap(np.angle(np.exp(1j * x).mean(axis))
                                               - np.angle(np.exp(1j * y).mean(axis))),
            n_permutations=199, seed=rng,
        ).p_value  # fmt: skip
        hits += p < ALPHA
    assert hits / N_REPLICATES > ALPHA + 0.1


def test_independent_subjects_keep_the_recording_test():
    """One recording per subject: the subject-level and the recording-level tests are the
    same test and give the same p-value."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=6), rng.normal(1.5, 1, 6)
    plain = permutation_test(x, y)
    labelled = permutation_test(x, y, subjects_x=np.arange(6), subjects_y=np.arange(6) + 6)
    assert labelled.p_value == pytest.approx(plain.p_value, abs=1e-12)
    assert labelled.exact and labelled.n_permutations == plain.n_permutations == 924


def test_subject_relabelling_counts_splits_of_subjects():
    x = np.array([0.0, 0.1, 1.0, 1.1, 2.0, 2.1])
    y = x + 5
    s = np.repeat([0, 1, 2], 2)
    res = permutation_test(x, y, subjects_x=s, subjects_y=s + 3)
    assert res.exact and res.n_permutations == 20  # C(6, 3) splits of 6 subjects
    assert res.p_value == pytest.approx(2 / 20)  # the two extreme splits
    with pytest.raises(Exception, match="subject labels"):
        permutation_test(x, y, subjects_x=s[:3], subjects_y=s)
    with pytest.raises(Exception, match="or of neither"):
        permutation_test(x, y, subjects_x=s)
