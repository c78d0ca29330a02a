"""The bootstrap of block medians behind a per-sample speed interval equals np.median of
each draw's concatenated blocks, exactly (issue 21, item 5: the same interval, faster)."""

from __future__ import annotations

import numpy as np
import pytest

from wavescope.waves.summary import _block_medians


@pytest.mark.parametrize("seed", range(12))
def test_block_medians_equal_numpys_median_of_each_draw(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3000))
    x = rng.normal(size=n)
    if seed % 3 == 0:
        x = np.round(x, 1)  # ties between blocks
    if seed % 4 == 1:
        x[: n // 2] = 0.3  # a plateau of equal speeds
    blocks = np.array_split(x, min(10, n))
    picks = rng.integers(0, len(blocks), (300, len(blocks)))
    ref = np.array([np.median(np.concatenate([blocks[i] for i in row])) for row in picks])
    np.testing.assert_array_equal(_block_medians(blocks, picks), ref)
