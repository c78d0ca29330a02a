"""Layer 7: the jobs, from inputs to written outputs, returning typed results.

The only place that reads inputs, measures, tabulates and writes:

- :mod:`~wavescope.pipelines.recording`: one recording (:func:`measure_recording`);
- :mod:`~wavescope.pipelines.batch`: many recordings through Dask (:func:`measure_many`);
- :mod:`~wavescope.pipelines.properties`: the property table (:func:`wave_properties`);
- :mod:`~wavescope.pipelines.compare`: a group comparison (:func:`run_comparison`);
- :mod:`~wavescope.pipelines.probe`: a model layer's states for one input
  (:func:`probe_model`: checkpoints, Hugging Face folders and any torch module);
- :mod:`~wavescope.pipelines.memory`: the memory curve of a recording or of a model layer;
- :mod:`~wavescope.pipelines.demo`: the main job, composed from the above.

Every job writes its outputs one way (:mod:`~wavescope.pipelines.outputs`): paths checked
before the work, then :func:`~wavescope.pipelines.outputs.save`.

Rendering (figures, HTML, text) is the report layer's: pipelines return results, and the
command line renders them and passes the rendered bytes back to be written.
"""

from wavescope.core.lazy import lazy_exports

# The jobs' names are imported on first use: a job that needs one module (the memory-curve
# probe: wavescope.pipelines.memory) does not pay for the others' imports (scipy.stats,
# optimize, interpolate, ndimage through the recording and comparison jobs: 48 MB of
# resident set and about 1 s).
_EXPORTS = {
    "BatchRecord": "batch",
    "find_recordings": "batch",
    "measure_many": "batch",
    "ComparisonResult": "compare",
    "run_comparison": "compare",
    "wave_properties": "properties",
    "ReadOptions": "recording",
    "RecordingResult": "recording",
    "VelocityOptions": "recording",
    "measure_recording": "recording",
    "read_input": "recording",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "BatchRecord",
    "ComparisonResult",
    "ReadOptions",
    "RecordingResult",
    "VelocityOptions",
    "find_recordings",
    "measure_many",
    "measure_recording",
    "read_input",
    "run_comparison",
    "wave_properties",
]
