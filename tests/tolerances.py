"""Tolerances for comparing float32 results computed along two paths.

float32 has a machine epsilon of 1.19e-7. A model's state is a sum of products over a few
hundred terms per layer (matrix products, the scan, convolutions); two paths that compute
the same value in a different order (a model reloaded from disk, a batched and an unbatched
call, another BLAS kernel or thread count) agree to a few dozen epsilons of the largest
term, not to one epsilon of each element. Small elements (a decayed state of 1e-12 next to
terms of 1e-5) carry the absolute error of the large ones, so the tolerance is relative to
the array's scale as well as to each element.
"""

from __future__ import annotations

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)
#: ~84 epsilons: room for the reordering of sums over a few hundred float32 terms.
FLOAT32_RTOL = 1e-5


def assert_float32_close(actual, desired, rtol: float = FLOAT32_RTOL) -> None:
    """Assert that two float32 results agree to `rtol` of each element and of the array's
    largest magnitude (see the module docstring for why both)."""
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)
