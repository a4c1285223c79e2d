"""Provenance of a stored unit: what produced it, so a sweep reuses a unit only when that is unchanged.

A unit's provenance is a flat dict of readable *components* (``seed``, ``model.spec``,
``limits.pararel_max_facts``, ``dataset.pararel`` = a content hash, ``versions.torch``, ...);
its *fingerprint* is the sha256 of their canonical JSON. Both are stored in the unit's meta
(``meta["provenance"]``) when it is saved. Planning compares a stored unit's fingerprint with the
one today's config gives it: equal = *fresh* (reused), different = *stale* (recomputed, or kept on
purpose with ``keep_stale``), with the differing components as the reason
(``seed 0 -> 1; limits.pararel_max_facts 12 -> 20``). A unit stored without provenance is stale
with reason :data:`NO_PROVENANCE`.

Which components a unit has (from the declarations in :mod:`interp.registry`, nowhere else):

* every unit: ``model.spec`` (and ``model.revision`` if the model config has one),
  ``model.is_chat``, ``dtype`` (the effective one), ``seed``, ``dataset.<its dataset>`` (the sha256
  of the files its path points to; a ``"download"`` dataset hashes its cache) and
  ``versions.<p>`` for :data:`PACKAGES`;
* the ``[limits]`` keys of its dataset (:func:`limit_keys`: ``Dataset.limits``) and of its analysis
  (``Analysis.limits``, e.g. the knockout's query cap touches no other analysis), and ``n_boot``
  where a bootstrap is drawn (``Analysis.bootstrap``; every pooled unit);
* the sweep options its analysis declares (``Analysis.options``: ``representation``, ``lens``);
* for a pooled unit (prompt ``"all"``), the prompts (or, for BECEL, the tasks) it pools;
* a cross-model summary (model ``_sweep``): instead of a model's and a dataset's components, the
  fingerprint of each unit it reads (today's, for a fresh input; its state otherwise), ``seed``,
  ``n_boot`` and the versions.

``batch_size``, ``device`` (except through the effective dtype when ``dtype`` is unset), output
paths and notes are never part of it. A pooled unit computed from stale per-prompt units records
them (``stale_inputs``) and is stale itself.

Example:
    >>> old = {"seed": 0, "limits.pararel_max_facts": 12, "model.spec": "m"}
    >>> new = {"seed": 1, "limits.pararel_max_facts": 20, "model.spec": "m"}
    >>> "; ".join(changes(old, new))
    'limits.pararel_max_facts 12 -> 20; seed 0 -> 1'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.analysis import SWEEP
from interp.config import SweepConfig
from interp.results import ResultStore, UnitKey, package_versions, sha256_json

#: the reason of a unit stored before provenance was recorded
NO_PROVENANCE = "no provenance recorded"

def limit_keys(dataset: str) -> tuple[str, ...]:
    """The ``[limits]`` keys that change the numbers of a dataset's units (its registered
    :class:`~interp.analysis.Dataset`'s ``limits``, plus ``n_boot``). A key not listed never
    invalidates that dataset's units (``becel_*`` never touches PARAREL)."""
    from interp import registry

    ds = registry.datasets().get(dataset)
    return (*ds.limits, "n_boot") if ds is not None else ()


def _declared(key: UnitKey) -> Any:
    """The registered :class:`~interp.analysis.Analysis` of ``key`` (``None`` if there is none):
    its ``bootstrap``, own ``limits`` and ``options`` are part of its units' provenance."""
    from interp import registry

    try:
        return registry.analysis(key.dataset, key.analysis)
    except KeyError:
        return None


#: packages whose version can change the numbers
PACKAGES: tuple[str, ...] = ("interp", "torch", "transformers", "transformer-lens")

_DIGEST_LEN = 16  # hex digits kept of a file's / a dataset's sha256 (for display and comparing)


@dataclass(frozen=True)
class UnitState:
    """Where a unit stands: ``status`` is "missing", "fresh" or "stale" (``reason`` says why);
    ``mark`` is the stale mark the stored unit carries (``meta["stale"]``), if any."""

    status: str
    reason: str = ""
    mark: str | None = None
    #: the stored fingerprint (equal to today's when ``status`` is "fresh")
    fingerprint: str | None = None


def changes(old: Mapping[str, Any], new: Mapping[str, Any],
            old_files: Mapping[str, Mapping[str, str]] | None = None,
            new_files: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """The components that differ, readable (``seed 0 -> 1``); a dataset names its changed files
    when both file lists are known."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if k.startswith("dataset."):
            name = k[len("dataset."):]
            fa, fb = (old_files or {}).get(name), (new_files or {}).get(name)
            if fa is not None and fb is not None:
                diff = sorted(f for f in set(fa) | set(fb) if fa.get(f) != fb.get(f))
                shown = ", ".join(diff[:3]) + (f" +{len(diff) - 3} more" if len(diff) > 3 else "")
                out.append(f"{k} content changed ({shown})")
            else:
                out.append(f"{k} content changed")
            continue
        out.append(f"{k} {_show(a)} -> {_show(b)}")
    return out


def _show(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


class Provenance:
    """Today's provenance of every unit of a sweep config, and the state of stored units.

    File hashes are cached per instance (one sweep run) by path, size, mtime and inode, so each
    dataset file is read once per run; the listing is re-read each time (a "download" dataset's
    cache appears when its loader runs).
    """

    def __init__(self, cfg: SweepConfig, *, keep_stale: bool = False) -> None:
        self.cfg = cfg
        self.keep_stale = keep_stale
        self._file_cache: dict[tuple, str] = {}
        self._dtype: str | None = None

    # ------------------------------------------------------------------------- components
    def dtype(self) -> str:
        """The effective dtype (``dtype`` unset: float32 on CPU, bfloat16 on an accelerator)."""
        if self._dtype is None:
            import torch

            from interp.models import default_device, resolve_dtype

            try:
                dev = torch.device(self.cfg.device) if self.cfg.device else default_device()
                self._dtype = str(resolve_dtype(self.cfg.dtype, dev)).removeprefix("torch.")
            except (RuntimeError, ValueError, TypeError):  # a bad setting: model loading says so
                self._dtype = str(self.cfg.dtype)
        return self._dtype

    def dataset_root(self, dataset: str) -> Path | None:
        """The file or directory a dataset is read from (its cache for "download")."""
        path = self.cfg.datasets.get(dataset)
        if path is None:
            return None
        if path == "download":
            from interp.data import default_dir

            return default_dir(dataset)
        return Path(path)

    def dataset_files(self, dataset: str) -> dict[str, str]:
        """``{relative path: sha256 prefix}`` of the dataset's files (hidden files skipped);
        empty if the path does not exist."""
        root = self.dataset_root(dataset)
        if root is None or not root.exists():
            return {}
        if root.is_file():
            return {root.name: self._hash(root)}
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            for name in sorted(filenames):
                if not name.startswith("."):
                    p = Path(dirpath) / name
                    out[p.relative_to(root).as_posix()] = self._hash(p)
        return out

    def _hash(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in self._file_cache:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            self._file_cache[key] = h.hexdigest()[:_DIGEST_LEN]
        return self._file_cache[key]

    def components(self, key: UnitKey, files: Mapping[str, str] | None = None,
                   store: ResultStore | None = None) -> dict[str, Any]:
        """The readable components of ``key``'s provenance under today's config (``None`` values
        left out, so a new optional setting does not invalidate old units). A cross-model summary
        (model :data:`interp.analysis.SWEEP`) has the fingerprints of the units it reads from
        ``store`` instead of a model's and a dataset's."""
        cfg, lim = self.cfg, self.cfg.limits
        if key.model == SWEEP:
            return self._summary_components(key, store)
        mc = cfg.model(key.model)
        pooled = key.prompt == "all" and not key.extra
        files = self.dataset_files(key.dataset) if files is None else files
        out: dict[str, Any] = {
            "model.spec": mc.spec,
            "model.revision": getattr(mc, "revision", None),
            "model.is_chat": mc.chat,
            "dtype": self.dtype(),
            "seed": cfg.seed,
            f"dataset.{key.dataset}": sha256_json(files)[:_DIGEST_LEN] if files else "absent",
        }
        declared = _declared(key)
        # n_boot: every pooled unit draws a bootstrap; a per-prompt one as its analysis declares
        bootstrap = pooled or declared is None or declared.bootstrap
        for name in (*limit_keys(key.dataset), *(declared.limits if declared else ())):
            if name == "n_boot" and not bootstrap:
                continue
            value = getattr(lim, name)
            out[f"limits.{name}"] = list(value) if isinstance(value, tuple) else value
        for option in declared.options if declared else ():
            out[option] = getattr(cfg, option)
        if pooled:
            from interp import registry

            variants = registry.dataset(key.dataset).variants
            out["variants" if variants else "prompts"] = list(variants(cfg) if variants else cfg.prompts)
        versions = package_versions()
        for p in PACKAGES:
            out[f"versions.{p}"] = versions.get(p)
        return {k: v for k, v in out.items() if v is not None}

    def _summary_components(self, key: UnitKey, store: ResultStore | None) -> dict[str, Any]:
        from interp import registry

        summary = registry.summaries().get(key.analysis)
        inputs: dict[str, str] = {}
        for k in summary.inputs(self.cfg) if summary is not None else ():
            # today's fingerprint of each input that is stored and fresh: an input that is stale
            # now (and will be recomputed before the summary) makes the summary stale too
            state = self.state(store, k) if store is not None else UnitState("missing")
            inputs[str(k)] = state.fingerprint[:_DIGEST_LEN] if state.status == "fresh" else state.status
        out: dict[str, Any] = {"seed": self.cfg.seed, "limits.n_boot": self.cfg.limits.n_boot,
                               "inputs": sha256_json(inputs)[:_DIGEST_LEN]}
        versions = package_versions()
        out.update({f"versions.{p}": versions.get(p) for p in PACKAGES})
        return {k: v for k, v in out.items() if v is not None}

    def record(self, key: UnitKey, *, stale_inputs: Sequence[str] = (),
               store: ResultStore | None = None) -> dict:
        """What :meth:`ResultStore.save` stores as ``meta["provenance"]`` for ``key`` now."""
        files = self.dataset_files(key.dataset)
        comps = self.components(key, files, store)
        rec = {"fingerprint": sha256_json(comps), "components": comps,
               "files": {key.dataset: files}}
        if stale_inputs:
            rec["stale_inputs"] = list(stale_inputs)
        return rec

    # ------------------------------------------------------------------------------ state
    def state(self, store: ResultStore, key: UnitKey) -> UnitState:
        """Whether ``key`` is missing (or invalid), fresh, or stale (and why)."""
        meta = store.meta(key)
        if meta is None:
            return UnitState("missing")
        mark = meta.get("stale") if isinstance(meta.get("stale"), str) else None
        prov = meta.get("provenance")
        if not isinstance(prov, Mapping) or "fingerprint" not in prov:
            return UnitState("stale", NO_PROVENANCE, mark)
        reasons = []
        files = self.dataset_files(key.dataset)
        comps = self.components(key, files, store)
        if prov["fingerprint"] != sha256_json(comps):
            reasons = changes(prov.get("components") or {}, comps, prov.get("files"),
                              {key.dataset: files}) or ["fingerprint differs"]
        if prov.get("stale_inputs"):
            reasons.append(stale_inputs_reason(prov["stale_inputs"]))
        if reasons:
            return UnitState("stale", "; ".join(reasons), mark, prov["fingerprint"])
        return UnitState("fresh", "", mark, prov["fingerprint"])

    def needs_run(self, store: ResultStore, key: UnitKey) -> bool:
        """True if ``key`` must be computed: missing, or stale and not kept."""
        status = self.state(store, key).status
        return status == "missing" or (status == "stale" and not self.keep_stale)


def stale_inputs_reason(stale_inputs: Sequence[str]) -> str:
    """Why a unit computed from stale units is stale (``stale_inputs``: "prompt 0: why")."""
    return "pooled from stale units (" + "; ".join(stale_inputs) + ")"


def stale_note(reason: str) -> str:
    """How the report shows a stale unit's reason."""
    return f"stale: computed under a different configuration ({reason})"
