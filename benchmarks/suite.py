"""The README's test command as a new user runs it, timed per phase in one run: a fresh clone of
this repository's HEAD, a new virtual environment, an empty home (so an empty model cache: the
offline models are dequantised inside the run), ``scripts/install.sh test``, then ``python -m
pytest`` with the project's options (``-n auto --dist worksteal``).

    python benchmarks/suite.py                  # prints venv, install, pytest and total seconds
    python benchmarks/suite.py -- -n0           # extra pytest arguments, e.g. one process
    python benchmarks/suite.py --keep           # keep the temporary clone, venv and home

The clone sits in a temporary directory with a link to this checkout's ``../shared`` beside it,
as the tests expect. pip's download cache is the user's: downloads are not what is timed (a new
machine also downloads torch and the rest).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(label: str, cmd: list[str] | str, times: dict[str, float], **kw) -> subprocess.CompletedProcess:
    print(f"[{label}] {cmd if isinstance(cmd, str) else ' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=False, text=True, **kw)
    times[label] = time.perf_counter() - t0
    if done.returncode != 0 and label != "pytest":
        sys.exit(f"{label} failed (exit {done.returncode})")
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="interp-suite-"))
    try:
        clone, home = tmp / "interp", tmp / "home"
        home.mkdir()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        shared = ROOT.parent / "shared"
        if shared.is_dir():
            (tmp / "shared").symlink_to(shared)
        else:
            print(f"warning: {shared} is missing: the tests that need it skip, so this timing is "
                  "not the suite's", file=sys.stderr)
        pip_cache = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], text=True,
                                   capture_output=True).stdout.strip()
        # the machine's environment, less what a user's session or this project would add
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "XDG_CACHE_HOME")
               and not k.startswith(("PYTEST_", "HF_"))
               and not (k.startswith("INTERP_") and k != "INTERP_SHARED_DATA")}
        env["HOME"] = str(home)
        if pip_cache:  # downloads are not what is timed: the user's pip cache
            env["PIP_CACHE_DIR"] = pip_cache
        venv = clone / ".venv"
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
        times: dict[str, float] = {}
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, text=True,
                              capture_output=True, check=True).stdout.strip()
        _timed("venv", [sys.executable, "-m", "venv", str(venv)], times, cwd=clone, env=env)
        _timed("install", ["scripts/install.sh", "test"], times, cwd=clone, env=env,
               stdout=subprocess.DEVNULL)
        tests = _timed("pytest", ["python", "-m", "pytest", *args.pytest_args], times,
                       cwd=clone, env=env, capture_output=True)
        summary = [l for l in tests.stdout.splitlines() if l.strip()][-1:] or ["(no output)"]
        if tests.returncode != 0:
            print(tests.stdout[-6000:], tests.stderr[-3000:], sep="\n")
        print(f"\ncommit {head}, {os.cpu_count()} CPUs, pytest exit {tests.returncode}: {summary[0]}")
        for label, s in times.items():
            print(f"  {label:8s} {s:7.1f} s")
        print(f"  {'total':8s} {sum(times.values()):7.1f} s  ({sum(times.values()) / 60:.1f} min)")
        return tests.returncode
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
