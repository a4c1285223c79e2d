"""The project's own set-up: CI runs the README's test command in a fresh virtual environment,
and the lock file pins what the pyproject's tested ranges allow."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", text, re.S).group(1)
    return [l for l in block.splitlines() if l.strip() and not l.startswith("#")]


def _lock() -> dict[str, str]:
    """requirements/lock.txt as {canonical name: exact version}."""
    from packaging.utils import canonicalize_name

    lock = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[canonicalize_name(name)] = version
    return lock


def test_ci_runs_the_readme_test_command_in_a_fresh_venv():
    demo, test = _readme_commands()
    assert demo.startswith(VENV) and "interp demo" in demo
    assert test.startswith(VENV) and test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test[len(VENV):] in ci.splitlines()
    assert 'python3 -m venv "$tmp/venv"' in ci and "mktemp -d" in ci


def test_lock_pins_the_stack_within_the_tested_ranges():
    from packaging.requirements import Requirement

    lock = _lock()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for name in ("transformers", "transformer-lens", "torch"):
        assert name in lock, name
        spec = re.search(rf'"({re.escape(name)}[<>=!~][^"]*)"', pyproject).group(1)
        assert Requirement(spec).specifier.contains(lock[name]), (spec, lock[name])


def test_package_data_ships_the_report_templates():
    """Every file of the report's templates folder matches a pyproject package-data pattern (so
    an installed wheel can render the page), and jinja2 is a declared dependency, pinned in the lock."""
    import tomllib
    from fnmatch import fnmatch

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["interp"]
    templates = ROOT / "interp" / "report" / "templates"
    files = [p.relative_to(ROOT / "interp").as_posix() for p in templates.iterdir() if p.is_file()]
    assert files and all(any(fnmatch(f, pat) for pat in patterns) for f in files), (files, patterns)
    assert any(d.lower().startswith("jinja2") for d in project["project"]["dependencies"])
    assert "jinja2==" in (ROOT / "requirements" / "lock.txt").read_text().lower()


def test_every_extra_is_pinned_in_the_lock():
    """Each extra's direct requirements (pytest-xdist, which `-n auto` in the pytest options needs,
    among them) have an exact version in the lock, inside the extra's range."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for extra, reqs in project["project"]["optional-dependencies"].items():
        for req in map(Requirement, reqs):
            name = canonicalize_name(req.name)
            if name != project["project"]["name"]:
                assert name in lock, f"extra {extra!r}: {req.name} is not in the lock"
                assert req.specifier.contains(lock[name]), f"extra {extra!r}: {req} vs {lock[name]}"
    assert "-n auto" in project["tool"]["pytest"]["ini_options"]["addopts"]
