"""Known-answer tests for the result store: round trips, validation, atomicity."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest

from interp import results
from interp.results import CorruptUnit, ResultStore, UnitKey, canonical_json, sha256_json

KEY = UnitKey("smollm2-135m-instruct", "mrpc", "paraphrase_gap", 0)


def _save(store: ResultStore, key: UnitKey = KEY, payload: dict | None = None, **kw) -> Path:
    return store.save(key, payload if payload is not None else {"gap": 0.25, "per_layer": [0.1, 0.2]},
                      config={"n_pairs": 8, "representation": "final"}, model_spec="smollm2-135m-instruct",
                      seed=3, timings={"capture_s": 1.0, "analysis_s": 0.5}, **kw)


# keys ----------------------------------------------------------------------------------------


def test_key_relpath_and_inverse() -> None:
    assert KEY.relpath == "smollm2-135m-instruct/mrpc/paraphrase_gap/p0.json"
    k = UnitKey("meta-llama/Llama-2 7b", "pararel", "extraction", "all", extra="mlp+normed")
    assert k.relpath == "meta-llama%2FLlama-2%207b/pararel/extraction/pall+mlp%2Bnormed.json"
    assert UnitKey.from_relpath(k.relpath) == k
    assert UnitKey.from_relpath(KEY.relpath) == KEY


def test_key_paths_are_distinct_and_safe() -> None:
    labels = ["a/b", "a_b", "a%2Fb", "..", ".hidden", "a b"]
    paths = {UnitKey(m, "d", "x", 1).relpath for m in labels}
    assert len(paths) == len(labels)
    for p in paths:
        first = p.split("/")[0]
        assert first not in (".", "..") and not first.startswith(".")
        assert all(c.isalnum() or c in "-_.%" for c in first)


def test_key_validation() -> None:
    assert UnitKey("m", "d", "a", "2").prompt == 2
    for bad in (-1, "first", 1.5, True):
        with pytest.raises(ValueError, match="prompt"):
            UnitKey("m", "d", "a", bad)
    with pytest.raises(ValueError, match="model"):
        UnitKey("", "d", "a", 0)
    with pytest.raises(ValueError, match="dataset"):
        UnitKey("m", None, "a", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a unit"):
        UnitKey.from_relpath("m/d/a/q0.json")


def test_key_dict_round_trip_and_order() -> None:
    keys = [UnitKey("m", "d", "a", "all"), UnitKey("m", "d", "a", 2), UnitKey("m", "d", "a", 0, "x")]
    assert [UnitKey.from_dict(k.to_dict()) for k in keys] == keys
    assert [k.prompt for k in sorted(keys, key=UnitKey.sort_key)] == [0, 2, "all"]


# round trip ------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    payload = {"gap": 0.25, "per_layer": (0.1, float("nan")), "n": np.int64(7), "f": np.float32(0.5),
               "nested": {"ok": True, "none": None}}
    path = _save(store, payload=payload)
    assert path == tmp_path / KEY.relpath and path.is_file()
    assert store.has(KEY)
    unit = store.load(KEY)
    assert unit.key == KEY and unit.arrays == {}
    assert unit.payload["gap"] == 0.25 and unit.payload["n"] == 7 and unit.payload["f"] == 0.5
    assert unit.payload["per_layer"][0] == 0.1 and math.isnan(unit.payload["per_layer"][1])
    assert unit.payload["nested"] == {"ok": True, "none": None}
    meta = unit.meta
    assert meta["config"] == {"n_pairs": 8, "representation": "final"}
    assert meta["model_spec"] == "smollm2-135m-instruct" and meta["seed"] == 3
    assert meta["timings"] == {"capture_s": 1.0, "analysis_s": 0.5}
    assert set(meta["versions"]) == {"interp", "torch", "transformers", "transformer-lens", "numpy"}
    assert meta["versions"]["numpy"] == np.__version__
    assert meta["created_at"] and meta["hostname"]
    env = json.loads(path.read_text())
    assert env["format_version"] == results.FORMAT_VERSION and env["key"] == KEY.to_dict()
    assert env["payload_sha256"] == sha256_json(env["payload"])


def test_canonical_hash_known_answer() -> None:
    assert canonical_json({"b": [1, 2.5], "a": None}) == '{"a":null,"b":[1,2.5]}'
    import hashlib
    assert sha256_json({"b": [1, 2.5], "a": None}) == hashlib.sha256(b'{"a":null,"b":[1,2.5]}').hexdigest()


def test_overwrite_replaces(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _save(store, payload={"gap": 1.0})
    _save(store, payload={"gap": 2.0})
    assert store.load(KEY).payload == {"gap": 2.0}
    assert store.keys() == [KEY]


def test_bad_payload_is_a_clear_value_error(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(ValueError, match=r"payload of .*\$\.x\.y\[1\].*arrays="):
        _save(store, payload={"x": {"y": [1, np.zeros(3)]}})
    with pytest.raises(ValueError, match="payload must be a dict"):
        _save(store, payload=[1, 2])  # type: ignore[arg-type]
    assert not store.path(KEY).exists()


# validation -------------------------------------------------------------------------------------


def test_missing_unit(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "nothing-here")
    assert not store.has(KEY) and store.validate(KEY) == "missing" and store.keys() == []
    with pytest.raises(KeyError):
        store.load(KEY)


def test_truncated_file_is_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ResultStore(tmp_path)
    path = _save(store)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="interp.results"):
        assert not store.has(KEY)
    assert "not valid JSON" in caplog.text and str(path) in caplog.text
    with pytest.raises(CorruptUnit):
        store.load(KEY)
    assert store.keys() == [] and store.keys(validate=False) == [KEY]
    assert [p for p, _ in store.invalid()] == [KEY.relpath]
    _save(store)  # recomputed -> valid again
    assert store.has(KEY)


def test_empty_file_is_missing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = _save(store)
    path.write_bytes(b"")
    assert not store.has(KEY)


def test_tampered_payload_is_missing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = _save(store)
    env = json.loads(path.read_text())
    env["payload"]["gap"] = 0.99
    path.write_text(json.dumps(env))
    assert "sha256 mismatch" in store.validate(KEY)
    assert not store.has(KEY)


def test_wrong_key_and_version_are_missing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = _save(store)
    env = json.loads(path.read_text())
    other = UnitKey(KEY.model, KEY.dataset, KEY.analysis, 1)
    store.path(other).write_text(json.dumps(env))  # a copied file under another unit's name
    assert "expected" in store.validate(other) and not store.has(other)
    env["format_version"] = 999
    path.write_text(json.dumps(env))
    assert "format_version" in store.validate(KEY)


# arrays -------------------------------------------------------------------------------------------


def test_arrays_round_trip(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    arrays = {"hits": np.arange(12, dtype=np.int8).reshape(3, 4), "cos": np.linspace(0, 1, 5, dtype=np.float32)}
    _save(store, arrays=arrays)
    unit = store.load(KEY)
    assert set(unit.arrays) == {"hits", "cos"}
    for name, a in arrays.items():
        assert unit.arrays[name].dtype == a.dtype and np.array_equal(unit.arrays[name], a)
    assert store.load(KEY, arrays=False).arrays == {}
    env = json.loads(store.path(KEY).read_text())
    npz = store.path(KEY).parent / env["arrays"]["file"]
    assert npz.is_file() and env["arrays"]["entries"]["hits"]["shape"] == [3, 4]


def test_torch_tensor_arrays(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    store = ResultStore(tmp_path)
    _save(store, arrays={"x": torch.ones(2, 3)})
    assert store.load(KEY).arrays["x"].shape == (2, 3)


def test_missing_or_corrupt_arrays_invalidate(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _save(store, arrays={"a": np.ones(4)})
    npz = next(store.path(KEY).parent.glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:-10])
    assert "sha256 mismatch" in store.validate(KEY)
    npz.unlink()
    assert "missing" in store.validate(KEY) and not store.has(KEY)


def test_resave_cleans_old_arrays(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _save(store, arrays={"a": np.ones(4)})
    _save(store, arrays={"a": np.zeros(4)})
    assert len(list(store.path(KEY).parent.glob("*.npz"))) == 1
    assert store.load(KEY).arrays["a"].sum() == 0
    _save(store)  # no arrays any more
    assert list(store.path(KEY).parent.glob("*.npz")) == []
    assert store.delete(KEY) and not store.path(KEY).exists()


# atomicity --------------------------------------------------------------------------------------


def test_crash_during_replace_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path)

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        _save(store, arrays={"a": np.ones(3)})
    monkeypatch.undo()
    assert not store.path(KEY).exists() and not store.has(KEY)
    assert store.keys() == [] and store.keys(validate=False) == []
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []  # temp files removed


def test_crash_after_arrays_keeps_old_unit_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays are written first under a content-addressed name: a crash before the JSON is
    replaced leaves the previous unit intact and valid."""
    store = ResultStore(tmp_path)
    _save(store, payload={"v": 1}, arrays={"a": np.ones(3)})
    real_replace = os.replace

    def crash_on_json(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(results.os, "replace", crash_on_json)
    with pytest.raises(OSError):
        _save(store, payload={"v": 2}, arrays={"a": np.zeros(3)})
    monkeypatch.undo()
    unit = store.load(KEY)
    assert unit.payload == {"v": 1} and unit.arrays["a"].sum() == 3
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_stray_temp_file_is_invisible(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _save(store)
    (store.path(KEY).parent / ".p1.json.abc123.tmp").write_text("{partial")
    (store.path(KEY).parent / "notes.txt").write_text("x")
    assert store.keys(validate=False) == [KEY]


# listing ----------------------------------------------------------------------------------------


def test_iter_units_filters_and_manifest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    keys = [UnitKey(m, "pararel", a, p) for m in ("base", "ift") for a in ("extraction", "relations")
            for p in (0, 1, "all")]
    for k in keys:
        _save(store, k, payload={"k": str(k)})
    assert store.keys() == sorted(keys, key=UnitKey.sort_key)
    got = [u.key for u in store.iter_units(model="ift", analysis="extraction", prompt=[0, "all"])]
    assert got == [UnitKey("ift", "pararel", "extraction", 0), UnitKey("ift", "pararel", "extraction", "all")]
    assert len(list(store.iter_units(prompt=1))) == 4
    store.path(keys[0]).write_text("garbage")
    assert len(list(store.iter_units())) == len(keys) - 1
    man = store.manifest()
    assert man["n_units"] == len(keys) - 1 and man["models"] == ["base", "ift"]
    assert man["analyses"] == ["extraction", "relations"] and man["invalid"][0]["path"] == keys[0].relpath
    assert man["versions"] == [results.package_versions()]
    json.dumps(man)


def test_payload_digests_ignore_meta(tmp_path: Path) -> None:
    a, b = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    _save(a)
    b.save(KEY, {"gap": 0.25, "per_layer": [0.1, 0.2]}, config={"other": 1}, model_spec="x", seed=9,
           timings={"total_s": 99.0})
    assert a.payload_digests() == b.payload_digests() == {KEY.relpath: sha256_json({"gap": 0.25, "per_layer": [0.1, 0.2]})}
    _save(b, payload={"gap": 0.3})
    assert a.payload_digests() != b.payload_digests()


_WRITER = """
import sys
import numpy as np
from interp.results import ResultStore, UnitKey
store = ResultStore(sys.argv[1])
for i in range(100000):
    store.save(UnitKey("m", "d", "a", i % 7), {"i": i, "filler": list(range(20000))}, config={}, model_spec="m",
               seed=0, timings={}, arrays={"a": np.full(20000, i)})
    if i == 3:
        open(sys.argv[2], "w").close()
"""


def test_killed_writer_leaves_only_valid_units(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of writing units: every unit file left is complete and
    consistent with its arrays (nothing partial is visible), so a rerun can trust has()."""
    import signal
    import subprocess
    import sys
    import time

    flag = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "store"), str(flag)])
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = ResultStore(tmp_path / "store")
    keys = store.keys(validate=False)
    assert keys and store.invalid() == []
    for key in keys:
        unit = store.load(key)
        assert int(unit.arrays["a"][0]) == unit.payload["i"] and unit.payload["i"] % 7 == key.prompt
    before = store.payload_digests()
    store.cleanup(max_age_s=0)  # leftovers of the killed writer (temp files, unreferenced arrays)
    files = [p.name for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith(".tmp")]
    assert len([f for f in files if f.endswith(".npz")]) == len(keys) == len([f for f in files if f.endswith(".json")])
    assert store.payload_digests() == before and store.invalid() == []


def test_cleanup_keeps_young_files_and_referenced_arrays(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _save(store, arrays={"a": np.ones(2)})
    d = store.path(KEY).parent
    (d / ".p0.json.x.tmp").write_text("partial")
    (d / "p0.0123456789ab.npz").write_bytes(b"orphan")
    assert store.cleanup() == []  # too young: may belong to a running writer
    removed = sorted(p.name for p in store.cleanup(max_age_s=0))
    assert removed == [".p0.json.x.tmp", "p0.0123456789ab.npz"]
    assert store.has(KEY) and store.load(KEY).arrays["a"].sum() == 2
