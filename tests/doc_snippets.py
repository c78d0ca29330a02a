"""Run the shell and Python snippets of a Markdown page, in order, as a reader would.

A page's fenced ``python`` and ``bash`` blocks run in one fresh folder (Python blocks in
one interpreter, sharing their names; shell blocks with ``bash -euo pipefail``), with
``.venv`` and the repository's ``benchmarks``, ``analyses`` and ``scripts`` linked in and
``../shared`` pointing at the project's shared data, so that a command works exactly as
written from the repository root. Annotations are HTML comments (invisible on the page):

- ``<!-- doctest: skip REASON -->`` on the line before a block: not run, with the reason;
- ``<!-- doctest-page: slow -->`` anywhere: the page runs only in the slow suite;
- a block inside ``<!-- doctest-setup`` ... ``-->``: run first, not shown (inputs a
  reader would have, e.g. a small recording file).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M
)
SKIP = re.compile(r"<!--\s*doctest:\s*skip\s*(?P<why>.*?)-->\s*$")
SETUP = re.compile(r"<!--\s*doctest-setup\s*\n(?P<body>.*?)-->", re.S)
LANGS = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip: str | None = None


def _dedent(body: str, indent: str) -> str:
    return "\n".join(l[len(indent) :] if l.startswith(indent) else l for l in body.split("\n"))


def blocks(text: str) -> list[Block]:
    """The runnable blocks of a page, setup blocks first."""
    out = []
    for m in SETUP.finditer(text):
        for f in FENCE.finditer(m["body"]):
            if f["lang"] in LANGS:
                out.append(Block(LANGS[f["lang"]], _dedent(f["body"], f["indent"]), 0))
    hidden = [(m.start(), m.end()) for m in SETUP.finditer(text)]
    for f in FENCE.finditer(text):
        if f["lang"] not in LANGS or any(a <= f.start() < b for a, b in hidden):
            continue
        line = text.count("\n", 0, f.start()) + 1
        before = text[: f.start()].rstrip().rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        out.append(
            Block(
                LANGS[f["lang"]],
                _dedent(f["body"], f["indent"]),
                line,
                skip["why"].strip() or "marked skip" if skip else None,
            )  # fmt: skip
        )
    return out


def is_slow(text: str) -> bool:
    return bool(re.search(r"<!--\s*doctest-page:\s*slow\s*-->", text))


DRIVER = r"""
import json, os, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
env = dict(os.environ)
for i, b in enumerate(blocks):
    print(f"--- block {i} (line {b['line']}, {b['lang']})", flush=True)
    if b["lang"] == "python":
        try:
            exec(compile(b["code"], f"<page line {b['line']}>", "exec"), ns)
        except BaseException:
            traceback.print_exc()
            print(f"FAILED block {i} at line {b['line']}", flush=True)
            sys.exit(1)
    else:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]], env=env)
        if r.returncode != 0:
            print(f"FAILED block {i} at line {b['line']} (exit {r.returncode})", flush=True)
            sys.exit(1)
"""


def run_page(page: Path, root: Path, workdir: Path, *, timeout: float = 600) -> tuple[int, str]:
    """Run a page's blocks in ``workdir`` (made like the repository root); (code, output)."""
    text = page.read_text()
    todo = [b for b in blocks(text) if b.skip is None]
    work = workdir / "repo"
    work.mkdir(parents=True, exist_ok=True)
    for name in (".venv", "benchmarks", "analyses", "scripts"):
        if (root / name).exists() and not (work / name).exists():
            (work / name).symlink_to(root / name)
    shared = root.parent / "shared"
    if shared.exists() and not (workdir / "shared").exists():
        (workdir / "shared").symlink_to(shared)
    spec = workdir / "blocks.json"
    spec.write_text(json.dumps([b.__dict__ for b in todo]))
    driver = workdir / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESCOPE_")}
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    # a session of its own, so that a timeout ends the page's commands too (a shell block's
    # programs and their workers), not only the driver: they would run on, orphaned
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(spec)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        note = f"TIMED OUT after {timeout:g} s; the page's processes were killed"
        return -signal.SIGKILL, f"{out}{err}\n{note}"
    return proc.returncode, out + err
