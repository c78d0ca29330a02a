"""The toolkit's exceptions: one base class, subclasses that say what kind of problem it is.

Every error wavescope raises on purpose is a :class:`WaveInputError` (a ``ValueError``),
so ``except WaveInputError`` catches them all and the command line maps them all to exit
status 2 with the message. Where the problem is also of a standard kind, the subclass
derives from that built-in too, so that callers can catch it the way they would with the
standard library or MNE:

=============================  ===========================  ==============================
class                          also a                       raised when
=============================  ===========================  ==============================
:class:`WaveInputError`        ``ValueError``               a value cannot be used
:class:`WaveTypeError`         ``TypeError``                an argument has the wrong type
:class:`WaveFileNotFoundError` ``FileNotFoundError``        an input file or folder is absent
:class:`WaveFileExistsError`   ``FileExistsError``          an output exists (no overwrite)
:class:`MissingDependencyError` ``ImportError``             an optional extra is not installed
:class:`WaveWriteError`        ``OSError``                  an output cannot be written (disk
                                                            full, no permission)
=============================  ===========================  ==============================
"""

from __future__ import annotations

__all__ = [
    "WaveInputError",
    "WaveTypeError",
    "WaveFileNotFoundError",
    "WaveFileExistsError",
    "MissingDependencyError",
    "WaveWriteError",
]


class WaveInputError(ValueError):
    """Raised when an input cannot be used; the message says why and how to fix it."""


class WaveTypeError(WaveInputError, TypeError):
    """An argument has the wrong type (also a :class:`TypeError`)."""


class WaveFileNotFoundError(WaveInputError, FileNotFoundError):
    """An input file or folder does not exist (also a :class:`FileNotFoundError`)."""


class WaveFileExistsError(WaveInputError, FileExistsError):
    """An output file exists and overwriting was not asked for (also a :class:`FileExistsError`)."""


class MissingDependencyError(WaveInputError, ImportError):
    """An optional dependency is not installed (also an :class:`ImportError`).

    The message names the extra that installs it, e.g. ``pip install "wavescope[nwb]"``.
    """


class WaveWriteError(WaveInputError, OSError):
    """An output could not be written: the disk is full, the folder is read-only or not
    ours (also an :class:`OSError`). Nothing partial is left behind."""
