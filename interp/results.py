"""The result store: one JSON file per unit (model x dataset x analysis x prompt), written atomically.

A unit's file is ``<root>/<model>/<dataset>/<analysis>/p<prompt>[+<extra>].json`` (labels
percent-encoded, so any label maps to one safe, distinct file name). It holds an envelope::

    {"format": "interp.results", "format_version": 1, "key": {...},
     "payload_sha256": "...", "meta": {config, model_spec, seed, timings, versions, created_at,
     hostname, python, provenance, [stale]}, "arrays": null | {"file": ..., "sha256": ..., "entries": {...}},
     "payload": {...}}

Guarantees:

* **Atomic.** Every file is written to a hidden temporary file in the same directory, flushed,
  fsync'ed and renamed over the target with ``os.replace``. A crash leaves either the old complete
  file or the new complete file, never a partial one under the final name.
* **Arrays first.** Large tensors go to a sibling ``.npz`` named by its content hash, written (atomically)
  *before* the JSON that references it by name and sha256: the JSON's presence implies complete arrays.
* **Validated reads.** :meth:`ResultStore.has` is True only if the file parses, the format version
  and key match, the sha256 of the canonical payload matches and the referenced ``.npz`` exists with
  its recorded sha256. Anything else is logged as a warning and treated as missing, so a sweep
  recomputes it instead of trusting it.

Payloads are plain JSON (dicts, lists, str, int, float, bool, None; NaN is allowed and round-trips
as Python's ``json`` writes it). Numpy scalars are converted; tensors and arrays are refused (pass
them as ``arrays=``).

Concurrency: distinct units can be written by concurrent processes. Two processes writing the *same*
unit at once is safe in the sense that the loser's file is detected as invalid (never silently wrong).

Example:
    >>> import tempfile
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> key = UnitKey("smollm2-135m-instruct", "mrpc", "paraphrase_gap", 0)
    >>> _ = store.save(key, {"gap": 0.12}, config={"n": 10}, model_spec="smollm2-135m-instruct",
    ...                seed=0, timings={"total_s": 1.5})
    >>> store.has(key), store.load(key).payload["gap"], key.relpath
    (True, 0.12, 'smollm2-135m-instruct/mrpc/paraphrase_gap/p0.json')
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import platform
import re
import socket
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

log = logging.getLogger(__name__)

FORMAT = "interp.results"
FORMAT_VERSION = 1
VERSIONED_PACKAGES = ("interp", "torch", "transformers", "transformer-lens", "numpy")

_SAFE = "-_."  # besides ASCII letters and digits; everything else is %XX-encoded
_STEM_RE = re.compile(r"p(all|0|[1-9][0-9]*)(?:\+(.+))?")
_NPZ_HASH_LEN = 12


#: the pseudo-model label under which cross-model summaries are stored (:mod:`interp.summaries`);
#: config labels may not start with "_"
SWEEP = "_sweep"


class CorruptUnit(ValueError):
    """A stored unit exists but cannot be trusted (unparsable, truncated, tampered or mismatched)."""


# ------------------------------------------------------------------------------------------ keys


def _encode(label: str) -> str:
    enc = quote(label, safe=_SAFE)
    return "%2E" + enc[1:] if enc.startswith(".") else enc  # never a hidden file, never "." / ".."


def _check_label(name: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"UnitKey.{name} must be a str, got {type(value).__name__} {value!r}")
    if not value and not allow_empty:
        raise ValueError(f"UnitKey.{name} must be a non-empty str")
    return value


@dataclass(frozen=True)
class UnitKey:
    """Identifies one unit of work and its file: model label x dataset x analysis x prompt (+ extra).

    ``prompt`` is a prompt index (int >= 0) or ``"all"`` for units that pool the prompts;
    ``extra`` distinguishes variants of one analysis (e.g. ``"prenorm"``), ``""`` for none.

    Example:
        >>> UnitKey("org/model", "pararel", "extraction", "all", extra="mlp").relpath
        'org%2Fmodel/pararel/extraction/pall+mlp.json'
        >>> UnitKey.from_relpath('org%2Fmodel/pararel/extraction/pall+mlp.json').model
        'org/model'
    """

    model: str
    dataset: str
    analysis: str
    prompt: int | str = "all"
    extra: str = ""

    def __post_init__(self) -> None:
        _check_label("model", self.model)
        _check_label("dataset", self.dataset)
        _check_label("analysis", self.analysis)
        _check_label("extra", self.extra, allow_empty=True)
        p = self.prompt
        if isinstance(p, str) and p.isdigit():
            object.__setattr__(self, "prompt", int(p))
        elif isinstance(p, bool) or not (isinstance(p, int) and p >= 0 or p == "all"):
            raise ValueError(f"UnitKey.prompt must be an int >= 0 or 'all', got {p!r}")

    @property
    def stem(self) -> str:
        """File name without suffix: ``p0``, ``pall``, ``p1+prenorm``."""
        return f"p{self.prompt}" + (f"+{_encode(self.extra)}" if self.extra else "")

    @property
    def relpath(self) -> str:
        """Path of the unit's JSON file relative to the store root (POSIX separators)."""
        parts = (_encode(self.model), _encode(self.dataset), _encode(self.analysis))
        return "/".join(parts) + f"/{self.stem}.json"

    @classmethod
    def from_relpath(cls, relpath: str | os.PathLike) -> "UnitKey":
        """Inverse of :attr:`relpath`; ValueError if the path is not a unit file name."""
        parts = Path(relpath).parts
        if len(parts) != 4 or not parts[3].endswith(".json"):
            raise ValueError(f"not a unit path (<model>/<dataset>/<analysis>/p<prompt>.json): {relpath}")
        m = _STEM_RE.fullmatch(parts[3][: -len(".json")])
        if m is None:
            raise ValueError(f"not a unit file name (p<prompt>[+<extra>].json): {relpath}")
        prompt: int | str = m.group(1) if m.group(1) == "all" else int(m.group(1))
        key = cls(unquote(parts[0]), unquote(parts[1]), unquote(parts[2]), prompt, unquote(m.group(2) or ""))
        if key.relpath != Path(relpath).as_posix():
            raise ValueError(f"not a canonical unit path: {relpath} (expected {key.relpath})")
        return key

    def to_dict(self) -> dict:
        return {"model": self.model, "dataset": self.dataset, "analysis": self.analysis,
                "prompt": self.prompt, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "UnitKey":
        return cls(d["model"], d["dataset"], d["analysis"], d.get("prompt", "all"), d.get("extra", ""))

    def sort_key(self) -> tuple:
        """A total order (prompts 0, 1, 2, ... before "all")."""
        p = self.prompt
        return (self.model, self.dataset, self.analysis, p == "all", p if isinstance(p, int) else 0, self.extra)

    def __str__(self) -> str:
        extra = f" [{self.extra}]" if self.extra else ""
        return f"{self.model} / {self.dataset} / {self.analysis} / prompt {self.prompt}{extra}"


# ------------------------------------------------------------------------------------- encoding


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic) and obj.ndim == 0 and not isinstance(obj, (np.str_, np.bytes_)):
        return obj.item()
    kind = type(obj).__module__.split(".")[0] + "." + type(obj).__name__
    hint = " (pass arrays/tensors as `arrays=`, or convert with .tolist())" if hasattr(obj, "shape") else ""
    raise TypeError(f"{kind} is not JSON-serialisable{hint}")


def normalize_json(obj: Any, *, what: str = "payload") -> Any:
    """Return ``obj`` exactly as it reads back from JSON (tuples -> lists, numpy scalars -> Python,
    int dict keys -> str). ValueError naming ``what`` and the offending entry if it cannot be stored.

    Example:
        >>> normalize_json({"a": (1, np.float32(0.5)), 2: None})
        {'a': [1, 0.5], '2': None}
    """
    try:
        text = json.dumps(obj, default=_json_default, allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable at {_find_bad(obj)}: {exc}") from None
    return json.loads(text)


def _find_bad(obj: Any, path: str = "$") -> str:
    """Best-effort location (JSONPath-like) of the first value json cannot encode."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                return f"{path} (key {k!r})"
            found = _find_bad(v, f"{path}.{k}")
            if found:
                return found
        return ""
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = _find_bad(v, f"{path}[{i}]")
            if found:
                return found
        return ""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return ""
    if isinstance(obj, np.generic) and obj.ndim == 0:
        return ""
    return path


def canonical_json(obj: Any) -> str:
    """The canonical text that is hashed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha256_array(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that determine results (None if not installed); read
    once per process (every stored unit and every provenance check asks for them)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for name in VERSIONED_PACKAGES:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a hidden temp file in the same dir + fsync + os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / filesystem
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# ---------------------------------------------------------------------------------------- store


@dataclass(frozen=True)
class StoredUnit:
    """One validated unit read back from the store."""

    key: UnitKey
    payload: dict
    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None


class ResultStore:
    """A directory of units; see the module docstring for the file format and guarantees.

    Example:
        >>> import tempfile
        >>> store = ResultStore(tempfile.mkdtemp())
        >>> k = UnitKey("m", "pararel", "extraction", 1)
        >>> _ = store.save(k, {"rate": [0.0, 0.5]}, config={}, model_spec="m", seed=0, timings={},
        ...                arrays={"hits": np.eye(2, dtype=np.float32)})
        >>> store.keys() == [k], store.load(k).arrays["hits"].shape
        (True, (2, 2))
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    # paths
    def path(self, key: UnitKey) -> Path:
        """The unit's JSON file (which may not exist)."""
        return self.root / key.relpath

    def _npz_name(self, key: UnitKey, digest: str) -> str:
        return f"{key.stem}.{digest[:_NPZ_HASH_LEN]}.npz"

    # writing
    def save(
        self,
        key: UnitKey,
        payload: Mapping[str, Any],
        *,
        config: Mapping[str, Any],
        model_spec: str,
        seed: int,
        timings: Mapping[str, float],
        arrays: Mapping[str, np.ndarray] | None = None,
        self_check: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        stale: str | None = None,
    ) -> Path:
        """Store ``payload`` (+ ``arrays``) for ``key`` atomically, replacing any previous version.

        ``config`` is the slice of the sweep config that determines this unit; ``timings`` are
        seconds per stage; ``self_check`` the model's passed self-check
        (:class:`interp.selfcheck.SelfCheck`); ``provenance`` its fingerprint and components
        (:mod:`interp.provenance`); ``stale`` why it is known to be stale. All kept in ``meta``.
        Returns the JSON path.
        """
        if not isinstance(key, UnitKey):
            raise ValueError(f"save: key must be a UnitKey, got {type(key).__name__}")
        if not isinstance(payload, Mapping):
            raise ValueError(f"save({key}): payload must be a dict, got {type(payload).__name__}")
        payload_n = normalize_json(dict(payload), what=f"payload of {key}")
        meta = {
            "config": normalize_json(dict(config), what=f"config of {key}"),
            "model_spec": str(model_spec),
            "seed": int(seed),
            "timings": normalize_json(dict(timings), what=f"timings of {key}"),
            "versions": package_versions(),
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "hostname": socket.gethostname(),
            "python": platform.python_version(),
        }
        if self_check is not None:
            meta["self_check"] = normalize_json(dict(self_check), what=f"self-check of {key}")
        if provenance is not None:
            meta["provenance"] = normalize_json(dict(provenance), what=f"provenance of {key}")
        if stale is not None:
            meta["stale"] = str(stale)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays_ref = self._save_arrays(key, arrays) if arrays else None
        envelope = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "key": key.to_dict(),
            "payload_sha256": sha256_json(payload_n),
            "meta": meta,
            "arrays": arrays_ref,
            "payload": payload_n,
        }
        text = json.dumps(envelope, ensure_ascii=False, allow_nan=True, indent=1)
        _atomic_write_bytes(path, text.encode("utf-8"))
        self._remove_stale_npz(key, keep=arrays_ref["file"] if arrays_ref else None)
        return path

    def _save_arrays(self, key: UnitKey, arrays: Mapping[str, np.ndarray]) -> dict:
        entries: dict[str, dict] = {}
        clean: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"save({key}): array names must be identifiers, got {name!r}")
            if hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu().numpy()
            a = np.asarray(value)
            if a.dtype == object:
                raise ValueError(f"save({key}): array {name!r} has dtype object; use a numeric array")
            clean[name] = a
            entries[name] = {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _sha256_array(a)}
        buf = io.BytesIO()
        np.savez_compressed(buf, **clean)
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = self._npz_name(key, digest)
        _atomic_write_bytes(self.path(key).parent / name, data)
        return {"file": name, "sha256": digest, "entries": entries}

    def _remove_stale_npz(self, key: UnitKey, keep: str | None) -> None:
        pattern = re.compile(re.escape(key.stem) + r"\.[0-9a-f]{%d}\.npz" % _NPZ_HASH_LEN)
        for p in self.path(key).parent.iterdir():
            if pattern.fullmatch(p.name) and p.name != keep:
                with contextlib.suppress(OSError):
                    p.unlink()

    def set_meta(self, key: UnitKey, name: str, value: Any) -> None:
        """Set (or, with ``None``, remove) ``meta[name]`` of a stored unit, atomically; the payload
        and arrays are untouched. KeyError if absent, :class:`CorruptUnit` if invalid."""
        try:
            env = self._read_envelope(key)
        except FileNotFoundError:
            raise KeyError(f"no stored unit {key} (looked for {self.path(key)})") from None
        if value is None:
            env["meta"].pop(name, None)
        else:
            env["meta"][name] = normalize_json(value, what=f"meta {name!r} of {key}")
        text = json.dumps(env, ensure_ascii=False, allow_nan=True, indent=1)
        _atomic_write_bytes(self.path(key), text.encode("utf-8"))

    def delete(self, key: UnitKey) -> bool:
        """Remove a unit (JSON and arrays); True if a file was removed."""
        path = self.path(key)
        existed = path.exists()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if path.parent.is_dir():
            self._remove_stale_npz(key, keep=None)
        return existed

    # reading / validation
    def _read_envelope(self, key: UnitKey) -> dict:
        """The validated envelope; FileNotFoundError if absent, CorruptUnit if untrustworthy."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CorruptUnit(f"{path}: unreadable ({exc})") from None
        try:
            env = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptUnit(f"{path}: not valid JSON (truncated or partial write?): {exc}") from None
        if not isinstance(env, dict) or env.get("format") != FORMAT:
            raise CorruptUnit(f"{path}: not an {FORMAT} file")
        if env.get("format_version") != FORMAT_VERSION:
            raise CorruptUnit(f"{path}: format_version {env.get('format_version')!r}, expected {FORMAT_VERSION}")
        try:
            stored_key = UnitKey.from_dict(env["key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptUnit(f"{path}: bad key record ({exc})") from None
        if stored_key != key:
            raise CorruptUnit(f"{path}: holds {stored_key}, expected {key}")
        for name in ("payload", "meta", "payload_sha256"):
            if name not in env:
                raise CorruptUnit(f"{path}: missing {name!r}")
        if not isinstance(env["payload"], dict) or not isinstance(env["meta"], dict):
            raise CorruptUnit(f"{path}: payload and meta must be objects")
        if sha256_json(env["payload"]) != env["payload_sha256"]:
            raise CorruptUnit(f"{path}: payload sha256 mismatch (modified or corrupted)")
        ref = env.get("arrays")
        if ref is not None:
            if not isinstance(ref, dict) or not {"file", "sha256", "entries"} <= ref.keys():
                raise CorruptUnit(f"{path}: bad arrays record")
            npz = path.parent / str(ref["file"])
            if npz.parent != path.parent or not npz.is_file():
                raise CorruptUnit(f"{path}: its arrays file {ref['file']} is missing")
            if _sha256_file(npz) != ref["sha256"]:
                raise CorruptUnit(f"{path}: arrays file {ref['file']} sha256 mismatch")
        return env

    def validate(self, key: UnitKey) -> str | None:
        """None if ``key`` is stored and valid; otherwise the reason ("missing" or what is wrong)."""
        try:
            self._read_envelope(key)
        except FileNotFoundError:
            return "missing"
        except CorruptUnit as exc:
            return str(exc)
        return None

    def meta(self, key: UnitKey) -> dict | None:
        """The meta of a valid stored unit; None if absent or invalid (an invalid file is logged,
        like :meth:`has`)."""
        try:
            return self._read_envelope(key)["meta"]
        except FileNotFoundError:
            return None
        except CorruptUnit as exc:
            log.warning("result store: ignoring invalid unit (will be recomputed): %s", exc)
            return None

    def has(self, key: UnitKey) -> bool:
        """True only if the unit's file exists and validates; an invalid file is logged and
        reported as missing (so it is recomputed, never trusted)."""
        reason = self.validate(key)
        if reason is not None and reason != "missing":
            log.warning("result store: ignoring invalid unit (will be recomputed): %s", reason)
        return reason is None

    def result(self, key: UnitKey) -> Any:
        """The stored unit as its registered result class (:mod:`interp.registry`), or a
        :class:`interp.analysis.Skipped` for a unit stored as skipped. KeyError if absent or no
        analysis is registered under its name."""
        from interp.analysis import Skipped
        from interp.registry import load_result, result_class

        unit = self.load(key)
        if Skipped.of(unit.payload) is not None:
            return Skipped.of(unit.payload)
        cls = result_class(key)
        if cls is None:
            raise KeyError(f"{key}: no analysis {key.analysis!r} registered for {key.dataset!r}")
        return load_result(unit.payload, cls, unit.arrays)

    def load(self, key: UnitKey, *, arrays: bool = True) -> StoredUnit:
        """Read a validated unit. KeyError if absent, :class:`CorruptUnit` if invalid."""
        try:
            env = self._read_envelope(key)
        except FileNotFoundError:
            raise KeyError(f"no stored unit {key} (looked for {self.path(key)})") from None
        loaded: dict[str, np.ndarray] = {}
        ref = env.get("arrays")
        if arrays and ref is not None:
            with np.load(self.path(key).parent / ref["file"], allow_pickle=False) as z:
                for name, entry in ref["entries"].items():
                    if name not in z.files:
                        raise CorruptUnit(f"{self.path(key)}: array {name!r} missing from {ref['file']}")
                    a = z[name]
                    if _sha256_array(a) != entry["sha256"]:
                        raise CorruptUnit(f"{self.path(key)}: array {name!r} sha256 mismatch")
                    loaded[name] = a
        return StoredUnit(key, env["payload"], env["meta"], loaded, self.path(key))

    # listing
    def _candidate_keys(self) -> Iterator[UnitKey]:
        if not self.root.is_dir():
            return
        for p in self.root.glob("*/*/*/p*.json"):
            try:
                yield UnitKey.from_relpath(p.relative_to(self.root).as_posix())
            except ValueError:
                continue  # not a unit file (temp files are hidden and end in .tmp)

    def keys(self, *, validate: bool = True) -> list[UnitKey]:
        """All stored keys, sorted; with ``validate`` (default) only the valid ones."""
        keys = sorted(self._candidate_keys(), key=UnitKey.sort_key)
        return [k for k in keys if self.has(k)] if validate else keys

    def iter_units(
        self,
        *,
        model: str | Collection[str] | None = None,
        dataset: str | Collection[str] | None = None,
        analysis: str | Collection[str] | None = None,
        prompt: int | str | Collection[int | str] | None = None,
        extra: str | Collection[str] | None = None,
        arrays: bool = False,
    ) -> Iterator[StoredUnit]:
        """Valid units matching every given filter (a value or a collection of values), sorted.
        Invalid files are logged and skipped."""
        filters = {"model": model, "dataset": dataset, "analysis": analysis, "prompt": prompt, "extra": extra}
        wanted = {n: ({v} if isinstance(v, (str, int)) else set(v)) for n, v in filters.items() if v is not None}
        for key in sorted(self._candidate_keys(), key=UnitKey.sort_key):
            if any(getattr(key, n) not in vals for n, vals in wanted.items()):
                continue
            try:
                yield self.load(key, arrays=arrays)
            except CorruptUnit as exc:
                log.warning("result store: skipping invalid unit: %s", exc)
            except KeyError:
                continue  # removed meanwhile

    def invalid(self) -> list[tuple[str, str]]:
        """(relative path, reason) of every unit file that exists but does not validate."""
        out = []
        for key in sorted(self._candidate_keys(), key=UnitKey.sort_key):
            reason = self.validate(key)
            if reason not in (None, "missing"):
                out.append((key.relpath, reason))
        return out

    def lock(self, name: str, *, on_wait: Callable[[], None] | None = None) -> Any:
        """A context manager holding the store-wide lock ``name`` (e.g. a sweep job), so that two
        sweeps on one store never compute the same job at the same time; it yields whether it had
        to wait (then check again what is missing). A crash releases it
        (:func:`interp.locking.file_lock`). Lock files live in the hidden ``.locks/``."""
        from interp.locking import file_lock

        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        return file_lock(self.root / ".locks" / f"{digest}.lock", on_wait=on_wait)

    def cleanup(self, *, max_age_s: float = 3600.0) -> list[Path]:
        """Remove leftovers of killed writers older than ``max_age_s``: hidden ``*.tmp`` files and
        ``.npz`` files no unit file references. Returns the removed paths. (A younger file may
        belong to a writer still running, so it is kept.)"""
        import time

        if not self.root.is_dir():
            return []
        now = time.time()
        npz_re = re.compile(r"(?P<stem>.+)\.[0-9a-f]{%d}\.npz" % _NPZ_HASH_LEN)
        removed = []
        for p in self.root.glob("*/*/*/*"):
            if not p.is_file() or now - p.stat().st_mtime < max_age_s:
                continue
            stale = p.name.startswith(".") and p.name.endswith(".tmp")
            m = npz_re.fullmatch(p.name)
            if m and not stale:
                try:
                    ref = json.loads((p.parent / f"{m.group('stem')}.json").read_text()).get("arrays") or {}
                    stale = ref.get("file") != p.name
                except (OSError, ValueError, AttributeError):
                    stale = True
            if stale:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
        return removed

    def payload_digests(self) -> dict[str, str]:
        """``{relpath: payload sha256}`` of the valid units: two stores hold the same results iff
        these are equal (meta such as timings and creation time is left out)."""
        out = {}
        for key in self.keys(validate=False):
            try:
                out[key.relpath] = self._read_envelope(key)["payload_sha256"]
            except (FileNotFoundError, CorruptUnit):
                continue
        return out

    def manifest(self) -> dict:
        """A JSON-able summary: valid units with their provenance, invalid files, models,
        analyses, the cross-model summaries (stored under :data:`SWEEP`), and the distinct
        package-version sets used."""
        units, versions = [], []
        for u in self.iter_units():
            m = u.meta
            units.append({
                "key": u.key.to_dict(), "path": u.key.relpath, "model_spec": m.get("model_spec"),
                "seed": m.get("seed"), "created_at": m.get("created_at"), "hostname": m.get("hostname"),
                "timings": m.get("timings", {}),
            })
            if m.get("versions") not in versions:
                versions.append(m.get("versions"))
        return {
            "root": str(self.root),
            "n_units": len(units),
            "models": sorted({u["key"]["model"] for u in units} - {SWEEP}),
            "summaries": sorted({u["key"]["analysis"] for u in units if u["key"]["model"] == SWEEP}),
            "datasets": sorted({u["key"]["dataset"] for u in units}),
            "analyses": sorted({u["key"]["analysis"] for u in units}),
            "units": units,
            "invalid": [{"path": p, "reason": r} for p, r in self.invalid()],
            "versions": versions,
        }
