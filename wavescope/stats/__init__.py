"""Layer 5: circular statistics, surrogates, group tests and dimensionless wave properties.

- :mod:`~wavescope.stats.circular`: circular mean, resultant length, variance, standard
  deviation, Rayleigh and V-tests, Watson-Williams (and its permutation version),
  circular-linear and circular-circular correlation (all in radians);
- :mod:`~wavescope.stats.surrogates`: position shuffles, phase randomisation, time shifts;
- :mod:`~wavescope.stats.tests`: permutation tests, bootstrap intervals, effect sizes,
  mixed-effects models, false-discovery-rate control;
- :mod:`~wavescope.stats.compare`: :func:`compare_groups` (a property table, one row per
  recording, compared between groups) and :func:`compare_reference` (speeds against a
  published density), both on one engine (:func:`compare_values`);
- :mod:`~wavescope.stats.memory`: :func:`compare_memory`, memory-curve horizons and
  capacities on the same engine.

This layer takes tables and results; it never reads files or measures (the property
table is made by :func:`wavescope.pipelines.properties.wave_properties`).

The elementary circular quantities the wave measures need live in
:mod:`wavescope.core.circular` and are re-exported here.
"""

from wavescope.core.circular import circ_mean, resultant_length, wrap
from wavescope.stats.circular import (
    CircularTest,
    angular_deviation,
    circ_circ_corr,
    circ_kappa,
    circ_linear_corr,
    circ_std,
    circ_var,
    rayleigh_test,
    v_test,
    watson_williams_permutation,
    watson_williams_test,
)
from wavescope.stats.compare import (
    MIN_N,
    GroupComparison,
    PairTest,
    check_same_unit,
    compare_groups,
    compare_reference,
    compare_values,
)
from wavescope.stats.memory import MemoryComparison, compare_memory
from wavescope.stats.surrogates import (
    SurrogateTest,
    randomise_phases,
    shift_times,
    shuffle_positions,
    surrogate_test,
    surrogates,
)
from wavescope.stats.tests import (
    BootstrapCI,
    Effect,
    MixedEffectsResult,
    PermutationResult,
    bootstrap_ci,
    circ_mean_difference,
    cliffs_delta,
    cohens_d,
    effect_size,
    fdr,
    hedges_g,
    mixed_effects,
    permutation_test,
)

__all__ = [
    "BootstrapCI",
    "CircularTest",
    "GroupComparison",
    "MIN_N",
    "MemoryComparison",
    "PairTest",
    "Effect",
    "MixedEffectsResult",
    "PermutationResult",
    "SurrogateTest",
    "angular_deviation",
    "bootstrap_ci",
    "check_same_unit",
    "compare_groups",
    "compare_memory",
    "compare_reference",
    "compare_values",
    "circ_circ_corr",
    "circ_kappa",
    "circ_linear_corr",
    "circ_mean",
    "circ_mean_difference",
    "circ_std",
    "circ_var",
    "cliffs_delta",
    "cohens_d",
    "effect_size",
    "fdr",
    "hedges_g",
    "mixed_effects",
    "permutation_test",
    "randomise_phases",
    "rayleigh_test",
    "resultant_length",
    "shift_times",
    "shuffle_positions",
    "surrogate_test",
    "surrogates",
    "v_test",
    "watson_williams_permutation",
    "watson_williams_test",
    "wrap",
]
