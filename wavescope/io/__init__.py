"""Layer 1: readers that bring recordings and captures into a WaveField.

:func:`read_recording` reads any supported input (MNE formats and objects, the .npz
interchange format, widefield .npz, NWB, BIDS iEEG, TIFF and HDF5 frame stacks, Blackrock
with an electrode map); the optional libraries are imported only when needed.
"""

from wavescope.io.bids import read_bids
from wavescope.io.imaging import read_hdf5_frames, read_tiff
from wavescope.io.mne_io import from_mne
from wavescope.io.neo_io import ElectrodeMap, from_neo, read_blackrock, read_electrode_map
from wavescope.io.npz import read_npz, write_npz
from wavescope.io.nwb import read_nwb
from wavescope.io.projection import fit_sphere, project_positions
from wavescope.io.recording import read_recording, recording_format
from wavescope.io.widefield import RAW_FRAMES, WidefieldOptions, frames_to_field, read_widefield

__all__ = [
    "from_mne",
    "read_recording",
    "recording_format",
    "read_npz",
    "write_npz",
    "fit_sphere",
    "project_positions",
    "read_nwb",
    "read_bids",
    "read_tiff",
    "read_hdf5_frames",
    "read_widefield",
    "frames_to_field",
    "WidefieldOptions",
    "RAW_FRAMES",
    "from_neo",
    "read_blackrock",
    "read_electrode_map",
    "ElectrodeMap",
]
