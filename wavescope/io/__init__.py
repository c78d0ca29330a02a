"""Layer 1: readers that bring recordings and captures into a WaveField."""

from wavescope.io.mne_io import from_mne, read_recording
from wavescope.io.npz import read_npz, write_npz
from wavescope.io.projection import fit_sphere, project_positions

__all__ = ["from_mne", "read_recording", "read_npz", "write_npz", "fit_sphere", "project_positions"]
