"""Package attributes that import their module on first use (PEP 562).

A package ``__init__`` that re-exports its modules' names eagerly makes every importer
pay for all of them: importing one small helper of ``wavescope.io`` (to check an output
path) imported every reader, and one constant of ``wavescope.waves`` imported
``scipy.signal``, which together were most of ``wavescope --help``'s start-up time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``names`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping
        Public name -> module (relative to ``package``) that defines it, e.g.
        ``{"read_npz": "npz"}``.
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so that it is looked up
        once.

    Returns
    -------
    (__getattr__, __dir__)
        A name that is not exported but is a submodule of ``package`` (e.g.
        ``wavescope.waves.velocity``) is imported too, as it was when every submodule was
        imported eagerly.
    """

    def __getattr__(name: str) -> object:
        if name in names:
            value = getattr(import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value
            return value
        if not name.startswith("__"):
            try:
                return import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
