"""Layer 1: dataset loaders and synthetic fields with known ground truth."""

from wavescope.datasets.layouts import grid_positions, line_positions, random_positions
from wavescope.datasets.synthetic import (
    add_noise,
    line_pulses,
    noise_field,
    planar_wave,
    radial_wave,
    rotating_wave,
    smooth_noise,
    standing_wave,
    synchronous_field,
)

__all__ = [
    "grid_positions",
    "line_positions",
    "random_positions",
    "add_noise",
    "line_pulses",
    "noise_field",
    "planar_wave",
    "radial_wave",
    "smooth_noise",
    "rotating_wave",
    "standing_wave",
    "synchronous_field",
]

from wavescope.datasets.widefield import cortex_mask, read_widefield_npz  # noqa: E402

__all__ += ["cortex_mask", "read_widefield_npz"]

from wavescope.datasets.davis2021 import (  # noqa: E402
    DAVIS2021_CITATION,
    DAVIS2021_ENV,
    SpeedDensity,
    davis2021_path,
    read_davis2021_speeds,
    read_davis2021_wavelengths,
)
from wavescope.datasets.neural_field import neural_field  # noqa: E402

__all__ += [
    "DAVIS2021_CITATION",
    "DAVIS2021_ENV",
    "davis2021_path",
    "SpeedDensity",
    "read_davis2021_speeds",
    "read_davis2021_wavelengths",
    "neural_field",
]

from wavescope.datasets.driven import driven_input, driven_wave, expected_memory_r2  # noqa: E402

__all__ += ["driven_input", "driven_wave", "expected_memory_r2"]

from wavescope.datasets.backgrounds import in_band_power, mix_at_snr, pink_background  # noqa: E402
from wavescope.datasets.bank import BankCell, bank_cells, bank_field  # noqa: E402

__all__ += [
    "BankCell",
    "bank_cells",
    "bank_field",
    "in_band_power",
    "mix_at_snr",
    "pink_background",
]
