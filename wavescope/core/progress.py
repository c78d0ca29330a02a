"""Progress of long library steps, shown only where a caller asked for it.

Library code calls :func:`report` after each unit of a long loop (e.g. each surrogate of
a null). Nothing is shown unless a caller installed a reporter with :func:`reporting`:
the library prints nothing of its own accord. The ``wavescope`` command installs
:class:`StderrBars`, a progress bar on stderr that shows only when stderr is a terminal.

The reporter is held in a context variable rather than passed down as an argument, so
that a step deep inside a measure can report without every function above it taking a
callback; threads and Dask workers start without it and stay silent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int, int], None]

_REPORTER: ContextVar[Reporter | None] = ContextVar("wavescope_progress", default=None)


def report(stage: str, done: int, total: int) -> None:
    """Tell the installed reporter, if any, that ``done`` of ``total`` units of ``stage``
    are finished (a no-op otherwise)."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total)


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Send :func:`report` calls made inside the block to ``reporter(stage, done, total)``."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


class StderrBars:
    """A reporter that draws one tqdm bar per stage on stderr, only on a terminal.

    A stage that starts again (``done`` below the bar's count, or another ``total``: the
    next chunk of a long recording) gets a fresh bar; a finished stage's bar is removed.
    """

    def __init__(self, file=None) -> None:
        self._file = file
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is not None and (bar.total != total or done < bar.n):
            bar.close()
            bar = None
        if bar is None:
            from tqdm import tqdm

            file = sys.stderr if self._file is None else self._file
            bar = tqdm(total=total, desc=stage, leave=False, disable=None, file=file)
            self._bars[stage] = bar
        bar.update(done - bar.n)
        if done >= total:
            self._bars.pop(stage).close()

    def close(self) -> None:
        """Remove every bar still open (a command that stopped half-way)."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
