"""The paper's own numbers: Tables 1, 2, 4, 5 and 6 of Fierro, Li & Søgaard (2024), typed from its
text into the package data file ``interp/paper_values.toml`` (with the source and a citation per
table), and which of a sweep's models are the paper's (:func:`match`, by label or spec).

The report shows them in a "paper" column beside ours: pure lookup, no arithmetic.

Example:
    >>> match("llama-7b", "huggyllama/llama-7b"), match("gemma3-270m", "gemma3-270m")
    ('llama-7b', None)
    >>> gap_cell(match("x", "/models/open-instruct-sni-7b"))
    'MRPC 0.045 · TAPACO 0.308 · PARAREL 0.629 (Table 1)'
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: the tables the file must hold, and their shape: "rows" (one value per column) or "tasks" (per
#: task, one value per column: Table 6)
TABLES: dict[str, str] = {"table1": "rows", "table2": "rows", "table4": "rows", "table5": "rows", "table6": "tasks"}
#: Table 1's quantity is Table 4's for the other families, Table 2's Table 5's
GAP_TABLES, CONSISTENCY_TABLES = ("table1", "table4"), ("table2", "table5")
_COLUMN_NAMES = {"mrpc": "MRPC", "tapaco": "TAPACO", "pararel": "PARAREL", "symmetric": "Sym", "semantic": "Sem",
                 "negation_flip": "Neg", "accuracy": "Acc"}


@dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables: its citation, column keys, number format and rows by model id
    (Table 6: per model, one row per task of ``tasks``)."""

    name: str
    cite: str
    format: str
    columns: tuple[str, ...]
    rows: Mapping[str, Any]
    tasks: tuple[str, ...] = ()

    def fmt(self, v: float) -> str:
        return format(v, self.format)


@dataclass(frozen=True)
class PaperValues:
    """The file: its ``source``, the paper's models (id -> (printed name, matching names)) and
    the tables by name."""

    source: Mapping[str, Any]
    models: Mapping[str, tuple[str, tuple[str, ...]]]
    tables: Mapping[str, PaperTable]


def _check_numbers(where: str, values: Any, n: int) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != n:
        raise ValueError(f"{where}: expected {n} numbers, got {values!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError(f"{where}: not all finite numbers: {values!r}")
    return tuple(float(v) for v in values)


def parse(data: Mapping[str, Any], where: str = "paper_values.toml") -> PaperValues:
    """Check and type the file's content; ``ValueError`` naming the table and row on any defect
    (a missing table, a row of an unknown model, a wrong number of values, a non-number)."""
    src = data.get("source")
    if not isinstance(src, Mapping) or not src.get("title") or not src.get("arxiv"):
        raise ValueError(f"{where}: [source] needs title and arxiv")
    models: dict[str, tuple[str, tuple[str, ...]]] = {}
    for mid, m in (data.get("models") or {}).items():
        names = m.get("names") if isinstance(m, Mapping) else None
        if not isinstance(m.get("paper"), str) or not names or not all(isinstance(x, str) for x in names):
            raise ValueError(f"{where}: [models.{mid}] needs paper (a string) and names (strings)")
        models[mid] = (m["paper"], tuple(x.lower() for x in names))
    seen: dict[str, str] = {}
    for mid, (_, names) in models.items():
        for x in names:
            if seen.setdefault(x, mid) != mid:
                raise ValueError(f"{where}: name {x!r} matches both {seen[x]} and {mid}")
    tables: dict[str, PaperTable] = {}
    for name, shape in TABLES.items():
        t = data.get(name)
        if not isinstance(t, Mapping):
            raise ValueError(f"{where}: no [{name}]")
        cols = tuple(t.get("columns") or ())
        tasks = tuple(t.get("tasks") or ()) if shape == "tasks" else ()
        if not cols or not isinstance(t.get("cite"), str) or not isinstance(t.get("format"), str) or \
                (shape == "tasks" and not tasks):
            raise ValueError(f"{where}: [{name}] needs cite, format, columns" + (" and tasks" if shape == "tasks" else ""))
        rows: dict[str, Any] = {}
        for mid, row in (t.get("rows") or {}).items():
            if mid not in models:
                raise ValueError(f"{where}: [{name}.rows] {mid}: not one of [models]")
            if shape == "tasks":
                if not isinstance(row, list) or len(row) != len(tasks):
                    raise ValueError(f"{where}: [{name}.rows] {mid}: expected {len(tasks)} task rows")
                rows[mid] = tuple(_check_numbers(f"{where}: [{name}.rows] {mid} {task}", r, len(cols))
                                  for task, r in zip(tasks, row))
            else:
                rows[mid] = _check_numbers(f"{where}: [{name}.rows] {mid}", row, len(cols))
        if not rows:
            raise ValueError(f"{where}: [{name}] has no rows")
        tables[name] = PaperTable(name, t["cite"], t["format"], cols, rows, tasks)
    return PaperValues(dict(src), models, tables)


@functools.cache
def load() -> PaperValues:
    """The package's ``paper_values.toml``, checked (:func:`parse`)."""
    text = resources.files("interp").joinpath("paper_values.toml").read_text(encoding="utf-8")
    return parse(tomllib.loads(text))


def match(label: str, spec: str | None = None) -> str | None:
    """The paper's model id of a sweep's model, by its ``label`` or ``spec`` (the spec as given, or
    its last path component for a local directory), compared case-insensitively with the file's
    names; ``None`` when it is not one of the paper's models."""
    wanted = [label] + ([spec, spec.rstrip("/").rsplit("/", 1)[-1]] if spec else [])
    wanted = [w.lower() for w in wanted if w]
    for mid, (_, names) in load().models.items():
        if any(w in names for w in wanted):
            return mid
    return None


def _row(tables: Sequence[str], model: str | None) -> tuple[PaperTable, Any] | None:
    if model is None:
        return None
    for name in tables:
        t = load().tables[name]
        if model in t.rows:
            return t, t.rows[model]
    return None


def _tag(t: PaperTable) -> str:
    return f"Table {t.name.removeprefix('table')}"


def gap_cell(model: str | None) -> str:
    """The paper's Table 1 (or Table 4) row of ``model`` (a paper model id) as one cell; "" if none."""
    got = _row(GAP_TABLES, model)
    if got is None:
        return ""
    t, row = got
    return " · ".join(f"{_COLUMN_NAMES[c]} {t.fmt(v)}" for c, v in zip(t.columns, row)) + f" ({_tag(t)})"


def consistency_cell(model: str | None) -> str:
    """The paper's Table 2 (or Table 5) row of ``model`` as one cell, in its layout: MMLU acc. /
    spread, PARAREL acc. / cons., BECEL acc., cons. paraphrase / negation; "" if none."""
    got = _row(CONSISTENCY_TABLES, model)
    if got is None:
        return ""
    t, row = got
    v = dict(zip(t.columns, map(t.fmt, row)))
    return (f"MMLU {v['mmlu_accuracy']} / spread {v['mmlu_spread']} · PARAREL {v['pararel_accuracy']} / "
            f"cons. {v['pararel_consistency']} · BECEL {v['becel_accuracy']}, cons. {v['becel_semantic']} / "
            f"{v['becel_negation']} ({_tag(t)})")


def becel_task_cell(model: str | None, task: str) -> str:
    """The paper's Table 6 values of ``model`` on BECEL ``task`` as one cell; "" if none."""
    got = _row(("table6",), model)
    if got is None or task.lower() not in got[0].tasks:
        return ""
    t, rows = got
    row = rows[t.tasks.index(task.lower())]
    return " · ".join(f"{_COLUMN_NAMES[c]} {t.fmt(v)}" for c, v in zip(t.columns, row))


def citation() -> str:
    """The source of the values, one line."""
    s = load().source
    return f"{s['authors']} ({s['year']}), “{s['title']}”, arXiv:{s['arxiv']}"
