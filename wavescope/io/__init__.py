"""Layer 1: readers that bring recordings and captures into a WaveField.

:func:`read_recording` reads any supported input (MNE formats and objects, the .npz
interchange format, widefield .npz, NWB, BIDS iEEG, TIFF and HDF5 frame stacks, Blackrock
with an electrode map); the optional libraries are imported only when needed.
"""

from wavescope.core.lazy import lazy_exports

# each name imports its module on first use (wavescope.core.lazy says why)
_EXPORTS = {
    "read_bids": "bids",
    "read_hdf5_frames": "imaging",
    "read_tiff": "imaging",
    "from_mne": "mne_io",
    "ElectrodeMap": "neo_io",
    "from_neo": "neo_io",
    "read_blackrock": "neo_io",
    "read_electrode_map": "neo_io",
    "read_npz": "npz",
    "write_npz": "npz",
    "read_nwb": "nwb",
    "fit_sphere": "projection",
    "project_positions": "projection",
    "read_recording": "recording",
    "recording_format": "recording",
    "RAW_FRAMES": "widefield",
    "WidefieldOptions": "widefield",
    "frames_to_field": "widefield",
    "read_widefield": "widefield",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
