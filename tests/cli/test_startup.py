"""Start-up: the CLI's import and its --help pull no heavy library; lazy exports still resolve.

Speed itself is measured in benchmarks/bench_startup.py (results in
benchmarks/results/startup.md), never asserted here.
"""

import importlib
import json
import subprocess
import sys

import pytest

#: Libraries that ``wavescope --help`` must not import: each costs 0.2-3 s to import
#: (scipy.signal pulls scipy.stats; together they were 2.4 s of a 2.7 s --help), and none
#: is needed before a command runs.
HEAVY = (
    "torch",
    "mne",
    "matplotlib",
    "scipy.signal",
    "scipy.stats",
    "pandas",
    "sklearn",
    "dask",
    "transformers",
)

_HELP_EVERYTHING = """
import contextlib, io, json, sys
from wavescope.cli.main import COMMANDS, build_parser
parser = build_parser()
for argv in [["--help"]] + [[name, "--help"] for name in COMMANDS]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        parser.parse_args(argv)
print(json.dumps(sorted(sys.modules)))
"""


def test_cli_help_of_every_command_imports_no_heavy_library():
    # a fresh interpreter: this test process has imported everything already
    done = subprocess.run(
        [sys.executable, "-c", _HELP_EVERYTHING], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    pulled = sorted(h for h in HEAVY if h in loaded)
    assert not pulled, f"wavescope --help imported {pulled}; import them where they are used"


def test_method_choices_of_the_cli_are_the_library_methods():
    # the CLI lists them from waves.result (cheap); measure_velocity checks METHODS
    from wavescope.cli.main import build_parser
    from wavescope.waves.velocity import METHODS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    method = next(a for a in sub.choices["velocity"]._actions if a.dest == "method")
    assert tuple(method.choices) == ("auto",) + METHODS


@pytest.mark.parametrize("package", ["wavescope.io", "wavescope.waves", "wavescope.pipelines"])
def test_lazy_package_exports_resolve_to_their_modules_objects(package):
    pkg = importlib.import_module(package)
    assert set(pkg.__all__) <= set(dir(pkg))
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        source = importlib.import_module(f"{package}.{pkg._EXPORTS[name]}")
        assert obj is getattr(source, name)
    # submodules are attributes, as when the package imported them all
    sub = {"wavescope.io": "outputs", "wavescope.waves": "velocity"}.get(package, "memory")
    assert pkg.__getattr__(sub).__name__.startswith(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        pkg.no_such_name  # noqa: B018


def test_the_memory_probe_job_imports_none_of_the_other_jobs():
    # the probe's job module alone: the recording and comparison jobs (scipy.stats,
    # optimize, ndimage: 48 MB) are imported only when used
    code = "import json, sys, wavescope.pipelines.memory; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "wavescope.pipelines.recording" not in loaded and "scipy.stats" not in loaded
