"""The memory curve's folds: scikit-learn's GroupKFold without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from wavescope.waves.memory import group_kfold


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_group_kfold_gives_sklearns_folds(seed, n_splits):
    """Equal and unequal group sizes (ties between sizes, labels out of order, gaps in the
    labels): the same (train, test) rows in the same order as GroupKFold's."""
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(n_splits, 40))
    labels = rng.permutation(rng.choice(1000, n_groups, replace=False))
    sizes = np.full(n_groups, 7) if seed % 2 else rng.integers(1, 12, n_groups)
    groups = np.repeat(labels, sizes)
    if seed % 3 == 0:
        groups = rng.permutation(groups)  # rows of a group need not be contiguous
    ours = group_kfold(groups, n_splits)
    ref = list(GroupKFold(n_splits=n_splits).split(groups, groups=groups))
    assert len(ours) == len(ref) == n_splits
    for (tr, te), (rtr, rte) in zip(ours, ref):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(te, rte)


def test_a_ridge_memory_curve_does_not_import_sklearn():
    """scikit-learn costs the probe about 90 MB and 1 s to import; the ridge decoder needs
    nothing from it (the logistic decoder still does)."""
    code = (
        "import sys, numpy as np\n"
        "from wavescope.waves.memory import memory_curve\n"
        "rng = np.random.default_rng(0)\n"
        "u = rng.integers(0, 4, size=(20, 30))\n"
        "x = np.concatenate([np.roll(np.eye(4)[u], i, axis=1) for i in range(3)], axis=2)\n"
        "assert memory_curve(x, u, 5, n_boot=50).horizon == 3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
