"""The one registry of datasets, analyses and cross-model summaries (see :mod:`interp.analysis`).

Everything that lists analyses derives from here: the config's valid names, the sweep's units
and jobs, what a job captures, what is pooled, provenance and the typed results the store
returns. The built-in declarations are in :mod:`interp.datasets` (datasets),
``interp/analyses/*.py`` (one module per analysis, each ending in its ``register`` call) and
:mod:`interp.summaries`; they are imported the first time the registry is read.

Example:
    >>> from interp import registry
    >>> [a.name for a in registry.analyses("mrpc")]
    ['gap']
    >>> registry.analysis("pararel", "extraction").requires
    ('consistency',)
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from interp.analysis import Analysis, Dataset, Summary

_DATASETS: dict[str, Dataset] = {}
_ANALYSES: dict[tuple[str, str], Analysis] = {}
_SUMMARIES: dict[str, Summary] = {}
_loaded = False
#: the paper's order of the built-in analysis modules: it orders config listings and plans
#: (whatever order the modules happen to be imported in); other analyses follow in registration order
_ORDER = ("consistency", "paraphrase_gap", "relations", "attributes", "extraction")


def register(item: Analysis | Dataset | Summary) -> Any:
    """Add a declaration; registering an existing (dataset, name) replaces it (so a notebook can
    redefine an analysis). Returns ``item``."""
    if isinstance(item, Dataset):
        _DATASETS[item.name] = item
    elif isinstance(item, Analysis):
        if not item.datasets:
            raise ValueError(f"analysis {item.name!r} declares no dataset")
        for ds in item.datasets:
            _ANALYSES[(ds, item.name)] = item
    elif isinstance(item, Summary):
        _SUMMARIES[item.name] = item
    else:
        raise TypeError(f"register: expected an Analysis, Dataset or Summary, got {type(item).__name__}")
    return item


def unregister(dataset: str, name: str) -> None:
    """Remove the analysis ``name`` of ``dataset`` (tests, notebooks)."""
    _ANALYSES.pop((dataset, name), None)


def _load() -> None:
    """Import the built-in declarations once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("interp.datasets")
    import interp.analyses as pkg

    others = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in _ORDER)
    for name in (*_ORDER, *others):
        importlib.import_module(f"interp.analyses.{name}")
    importlib.import_module("interp.summaries")


def datasets() -> dict[str, Dataset]:
    """Every registered dataset by name, in registration order."""
    _load()
    return dict(_DATASETS)


def dataset(name: str) -> Dataset:
    _load()
    try:
        return _DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; registered: {', '.join(_DATASETS)}") from None


def analyses(dataset_name: str | None = None) -> list[Analysis]:
    """The analyses of ``dataset_name`` (every (dataset, analysis) registration when ``None``), in
    registration order."""
    _load()

    def rank(a: Analysis) -> int:
        mod = getattr(a.compute, "__module__", "") or ""
        name = mod.removeprefix("interp.analyses.")
        return _ORDER.index(name) if mod.startswith("interp.analyses.") and name in _ORDER else len(_ORDER)
    found = [a for (ds, _), a in _ANALYSES.items() if dataset_name is None or ds == dataset_name]
    return sorted(found, key=rank)  # stable: registration order within a module


def analysis(dataset_name: str, name: str) -> Analysis:
    _load()
    try:
        return _ANALYSES[(dataset_name, name)]
    except KeyError:
        have = ", ".join(a.name for a in analyses(dataset_name)) or "none"
        raise KeyError(f"no analysis {name!r} on dataset {dataset_name!r} (registered: {have})") from None


def names_by_dataset() -> dict[str, tuple[str, ...]]:
    """``{dataset: (analysis, ...)}`` for every registered dataset."""
    _load()
    return {ds: tuple(a.name for a in analyses(ds)) for ds in _DATASETS}


def summaries() -> dict[str, Summary]:
    _load()
    return dict(_SUMMARIES)


def result_class(key: Any) -> type | None:
    """The registered class of a stored unit's payload (``None`` if no declaration matches)."""
    from interp.analysis import SWEEP

    _load()
    if key.model == SWEEP:
        s = _SUMMARIES.get(key.analysis)
        return s.result if s else None
    a = _ANALYSES.get((key.dataset, key.analysis))
    if a is None:
        return None
    return a.result_class(key.prompt == "all" and not key.extra)


def load_result(payload: Mapping[str, Any], cls: type, arrays: Mapping[str, Any] | None = None) -> Any:
    """Rebuild a result from its stored payload (and arrays, for results that keep them)."""
    if hasattr(cls, "from_stored"):
        return cls.from_stored(payload, arrays or {})
    return cls.from_dict(dict(payload))


def dump_result(result: Any) -> tuple[dict, dict | None]:
    """A result's ``(payload, arrays)`` for :meth:`interp.results.ResultStore.save`."""
    if hasattr(result, "to_stored"):
        return result.to_stored()
    return result.to_dict(), None
