"""Every shell command and Python snippet in README.md and docs/ runs as written.

A page runs in a fresh folder laid out like the repository root (see snippets.py), its
blocks in order; a block that fails fails the page with its output. Pages marked slow
(``<!-- doctest-page: slow -->``: long training, the whole demo, benchmarks; the probe
tutorial, which trains three models and ran 3.5 minutes on 2 cores) run with ``pytest -m
slow``, on purpose: the default suite (CI's .ci/run) leaves them out to stay near 10 minutes.
"""

import pytest
from doc_snippets import blocks, is_slow, run_page
from paths import ROOT

PAGES = [ROOT / "README.md"] + sorted(
    p for p in (ROOT / "docs").rglob("*.md") if "api" not in p.relative_to(ROOT / "docs").parts
)


def _params(slow: bool):
    out = []
    for p in PAGES:
        text = p.read_text()
        if any(b.skip is None for b in blocks(text)) and is_slow(text) == slow:
            out.append(pytest.param(p, id=str(p.relative_to(ROOT))))
    return out


def _check(page, tmp_path):
    code, output = run_page(page, ROOT, tmp_path, timeout=1500)
    assert code == 0, f"{page.relative_to(ROOT)}:\n{output[-6000:]}"


@pytest.mark.parametrize("page", _params(slow=False))
def test_page_snippets_run(page, tmp_path):
    _check(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", _params(slow=True))
def test_slow_page_snippets_run(page, tmp_path):
    _check(page, tmp_path)


def test_every_skip_says_why():
    for p in PAGES:
        for b in blocks(p.read_text()):
            assert b.skip is None or len(b.skip) > 10, f"{p}:{b.line}: a skip needs a reason"


def test_the_parser_finds_indented_blocks_setup_and_skips():
    text = (
        "<!-- doctest-setup\n```python\nx = 1\n```\n-->\n"
        "1. step\n\n   ```bash\n   echo hi\n   ```\n"
        "<!-- doctest: skip the command CI itself runs -->\n```bash\nbash scripts/setup.sh\n```\n"
    )
    got = blocks(text)
    assert [(b.lang, b.code.strip(), b.skip) for b in got] == [
        ("python", "x = 1", None),
        ("bash", "echo hi", None),
        ("bash", "bash scripts/setup.sh", "the command CI itself runs"),
    ]
