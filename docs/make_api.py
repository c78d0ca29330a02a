"""Generate docs/api.md, the API reference, from the docstrings of the public names.

    .venv/bin/python docs/make_api.py            # rewrite docs/api.md
    .venv/bin/python docs/make_api.py --check    # exit 1 if docs/api.md is out of date

The public names of a module are its ``__all__`` (or, without one, the functions and
classes it defines whose names do not start with ``_``). Each gets its signature, its
docstring's first paragraph, and the rest of the docstring verbatim; classes also list
their public methods and properties. The output depends only on the source, so it can be
committed and checked in CI.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "api.md"
MODULES = (
    "wavescope",
    "wavescope.io",
    "wavescope.datasets",
    "wavescope.signal",
    "wavescope.space",
    "wavescope.waves",
    "wavescope.stats",
    "wavescope.report.compare",
    "wavescope.models.registry",
    "wavescope.models.probe",
    "wavescope.models.hf_probe",
    "wavescope.models.training",
    "wavescope.models.tasks",
)


def public_names(mod) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(mod).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == mod.__name__
        ]
    return sorted(dict.fromkeys(names), key=lambda n: (n.startswith("__"), n.lower()))


def signature(name: str, obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return name
    # defaults that are functions or classes print with a memory address: use their name
    sig = re.sub(
        r"<(?:function|built-in function|class) '?([\w.]+)'?(?: at 0x[0-9a-f]+)?>", r"\1", sig
    )
    return f"{name}{sig}"


def split_doc(obj) -> tuple[str, str]:
    doc = inspect.getdoc(obj) or ""
    head, _, rest = doc.partition("\n\n")
    return " ".join(head.split()), rest.strip()


def anchor(mod: str, name: str) -> str:
    return f"{mod}.{name}".replace(".", "-").replace("_", "-").lower()


def describe(mod: str, name: str, obj, lines: list[str]) -> None:
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else type(obj).__name__
    lines.append(f"### `{mod}.{name}`")
    lines.append("")
    if inspect.isclass(obj) or callable(obj):
        lines += [
            "```python",
            f"{'class ' if kind == 'class' else ''}{signature(name, obj)}",
            "```",
        ]
    else:
        value = repr(obj)
        if isinstance(obj, (str, int, float, tuple)) and len(value) <= 200:
            lines += ["```python", f"{name} = {value}", "```"]
        else:
            lines.append(f"*{kind}*")
    head, rest = split_doc(obj) if (inspect.isclass(obj) or callable(obj)) else ("", "")
    if head:
        lines += ["", head]
    if rest:
        lines += ["", "```text", rest, "```"]
    if inspect.isclass(obj):
        members = []
        for m, v in vars(obj).items():
            if m.startswith("_"):
                continue
            if isinstance(v, property):
                members.append(f"- `{m}` (property): {split_doc(v)[0]}")
            elif inspect.isfunction(v) or isinstance(v, (classmethod, staticmethod)):
                f = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
                members.append(f"- `{signature(m, f)}`: {split_doc(f)[0]}")
        if members:
            lines += ["", "Members:", ""] + members
    lines.append("")


def build() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `docs/make_api.py`; do not edit by hand (run",
        "`.venv/bin/python docs/make_api.py`). Units and shapes are in each docstring;",
        "conventions in [methods](methods.md).",
        "",
    ]
    mods = [importlib.import_module(m) for m in MODULES]
    lines.append(
        "Modules: " + ", ".join(f"[`{m.__name__}`](#{m.__name__.replace('.', '')})" for m in mods)
    )
    lines.append("")
    for mod in mods:
        lines.append(f"## {mod.__name__}")
        lines.append("")
        head, rest = split_doc(mod)
        if head:
            lines += [head, ""]
        names = public_names(mod)
        for n in names:
            if n != "__version__":
                describe(mod.__name__, n, getattr(mod, n), lines)
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="generate docs/api.md from the docstrings")
    p.add_argument("--check", action="store_true", help="only check that api.md is current")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    text = build()
    out = Path(args.out)
    if args.check:
        current = out.read_text() if out.exists() else ""
        if current != text:
            print(f"{out} is out of date; run docs/make_api.py", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(f"wrote {out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
