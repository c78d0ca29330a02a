"""Layer 5: circular statistics, surrogates, tests and comparisons.

The elementary circular quantities the wave measures need live in
:mod:`wavescope.core.circular` and are re-exported here; inferential statistics and
group comparisons arrive with the comparison-report work.
"""

from wavescope.core.circular import circ_mean, resultant_length, wrap

__all__ = ["circ_mean", "resultant_length", "wrap"]
