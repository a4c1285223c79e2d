"""interp.demo: the demo's config is the packaged interp/configs/demo.toml, paths filled in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import interp
from interp.config import from_dict
from interp.data import demo_path
from interp.demo import demo_config

PACKAGED = Path(interp.__file__).parent / "configs" / "demo.toml"


def _packaged() -> dict:
    return tomllib.loads(PACKAGED.read_text(encoding="utf-8"))


def test_demo_config_is_the_packaged_file(tmp_path: Path) -> None:
    raw = _packaged()
    del raw["real_data"]
    raw["sweep"]["output"] = str(tmp_path / "r")
    expected = from_dict(raw, base_dir=demo_path(), source="interp demo")  # paths under data/
    assert demo_config(tmp_path / "r") == expected
    assert expected.datasets["pararel"] == str(demo_path("pararel"))
    assert expected.wikipedia == str(demo_path("wikipedia"))


def test_real_data_applies_the_packaged_real_data_table(tmp_path: Path) -> None:
    real = _packaged()["real_data"]
    cfg = demo_config(tmp_path / "r", real_data=tmp_path / "real")
    plain = demo_config(tmp_path / "r")
    assert cfg.datasets == {**plain.datasets, **{k: str(tmp_path / "real" / v) for k, v in real["datasets"].items()}}
    for key, value in real["limits"].items():
        got = getattr(cfg.limits, key)
        assert (list(got) if isinstance(got, tuple) else got) == value, key
    assert cfg.notes[1] == real["data_note"].format(real_data=tmp_path / "real")
    assert cfg.notes[0] == plain.notes[0] and cfg.notes[2] == plain.notes[2]
    assert cfg.models == plain.models


def test_the_demo_config_ships_as_package_data() -> None:
    """pyproject's package-data pattern covers it (a non-editable install carries it)."""
    text = (Path(interp.__file__).parents[1] / "pyproject.toml").read_text()
    pattern = tomllib.loads(text)["tool"]["setuptools"]["package-data"]["interp"]
    assert any(PACKAGED.relative_to(PACKAGED.parents[1]).match(p) for p in pattern)
