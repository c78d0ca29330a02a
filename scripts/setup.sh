#!/usr/bin/env bash
# Set up wavescope in ./.venv: Python >= 3.10, torch installed deliberately, then the package
# with its development tools. Safe to run again (it skips what is already there).
#
# torch: pip's plain "torch" on Linux pulls several GB of CUDA libraries. This script installs
# the pinned version on its own first, from TORCH_INDEX_URL when set (e.g.
# https://download.pytorch.org/whl/cpu for a CPU-only build, or a CUDA index on a GPU machine),
# otherwise from the default index / local wheel cache; the package's own requirement
# (torch>=2.1) is then already satisfied and pip installs nothing more for it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"wavescope needs Python >= 3.10, this is {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "[setup] installing torch==${TORCH_VERSION} (deliberately, before the package)"
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${PIP[@]}" install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
    else
        "${PIP[@]}" install "torch==${TORCH_VERSION}"
    fi
fi

echo "[setup] installing wavescope and its development tools"
"${PIP[@]}" install -e ".[dev]"
echo "[setup] done: $(.venv/bin/python -c 'import wavescope, torch; print("wavescope", wavescope.__version__, "| torch", torch.__version__)')"
