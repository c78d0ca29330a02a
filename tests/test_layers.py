"""Architecture: the analysis layers never import torch; lower layers never import higher."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

PKG = ROOT / "wavescope"
LAYERS = [
    "core",
    "io",
    "datasets",
    "signal",
    "space",
    "waves",
    "stats",
    "models",
    "pipelines",
    "report",
    "cli",
]
RANK = {
    "core": 0,
    "io": 1,
    "datasets": 1,
    "signal": 2,
    "space": 3,
    "waves": 4,
    "stats": 5,
    "models": 6,
    "pipelines": 7,
    "report": 8,
    "cli": 8,
}
#: Role rules next to the rank rule: layer -> layers it must not import, and why.
FORBIDDEN = {
    "report": ({"io", "signal", "waves", "space", "pipelines", "models"}, "report only renders"),
    "stats": ({"waves", "signal", "space", "pipelines", "models"}, "stats never measures"),
    "waves": ({"io", "datasets"}, "waves never reads files"),
    "signal": ({"io", "datasets"}, "signal never reads files"),
    "space": ({"io", "datasets"}, "space never reads files"),
}


def test_analysis_layers_and_velocity_cli_leave_torch_out():
    code = (
        "import sys\n"
        "import wavescope, wavescope.io, wavescope.datasets, wavescope.signal, wavescope.space\n"
        "import wavescope.waves, wavescope.stats\n"
        "from wavescope.cli.main import build_parser\n"
        "build_parser()\n"
        "from wavescope.datasets import grid_positions, planar_wave\n"
        "f = planar_wave(grid_positions(4, 4, 1e-3), fs=200, duration=3, frequency=10, speed=0.2)\n"
        "wavescope.measure_velocity(f, (8, 12), n_surrogates=2)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("wavescope.")
        ):
            yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("wavescope."):
                    yield a.name.split(".")[1]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_role_rules(layer):
    forbidden, why = FORBIDDEN[layer]
    for path in (PKG / layer).rglob("*.py"):
        bad = sorted(set(_imports(path)) & forbidden)
        assert not bad, f"{path} imports wavescope.{bad[0]} ({why})"


def test_report_is_importable_without_the_measuring_layers():
    # the report imports nothing that measures or reads: importing it leaves them out
    code = (
        "import sys\n"
        "import wavescope.report, wavescope.report.html, wavescope.report.figures\n"
        "bad = [m for m in ('wavescope.waves', 'wavescope.signal', 'wavescope.io') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_cli_command_module_imports():
    # a command that fails to import must fail loudly, never vanish from the parser
    from wavescope.cli.main import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)


@pytest.mark.parametrize("layer", [la for la in LAYERS if (PKG / la).exists()])
def test_lower_layers_never_import_higher_ones(layer):
    for path in (PKG / layer).rglob("*.py"):
        for target in _imports(path):
            if target in RANK:
                assert RANK[target] <= RANK[layer], f"{path} imports wavescope.{target}"
