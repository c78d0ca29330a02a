"""A batch task for the dead-worker test; module level so that worker processes import it."""

import os

from wavescope.pipelines.batch import measure_one


def die_on_kills(path, **kw):
    """Kill the worker process on a recording whose name contains "kills"."""
    if "kills" in os.fspath(path):
        os._exit(13)
    return measure_one(path, **kw)
