"""``build_report``: check the input and output paths, render every section, write the page atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from interp.report.context import ReportContext
from interp.report.registry import SECTIONS, Section, SectionRegistry
from interp.report.render import render_page, render_section
from interp.results import ResultStore

log = logging.getLogger("interp.report")


def check_results_dir(root: Path, *, must_exist: bool = True) -> None:
    """Raise ``ValueError`` naming ``root`` unless it is a readable directory (or, without
    ``must_exist``, absent: an empty store)."""
    if not root.is_dir():
        if root.exists() or must_exist:
            why = "not a directory" if root.exists() else "no such directory"
            raise ValueError(f"{str(root)!r} is not a directory of results ({why})")
        return
    if not os.access(root, os.R_OK | os.X_OK):
        raise ValueError(f"cannot read the results directory {str(root)!r} (permission denied)")


def check_writable(out: Path) -> None:
    """Raise ``OSError`` naming ``out`` unless a file can be written there: its directory is
    created if missing and a probe file is created and removed in it (what ``os.replace`` needs)."""
    if out.is_dir():
        raise OSError(f"cannot write the report to {str(out)!r}: it is a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc


#: the report's title unless one is given or stored (:func:`stored_title`)
DEFAULT_TITLE = "Does instruction tuning make LLMs more consistent?"
#: the file at a store's root that keeps the title of its report (``{"title": ...}``)
REPORT_SETTINGS = "report.json"


def stored_title(root: Path) -> str | None:
    """The title last given to :func:`build_report` for the store at ``root`` (``None`` if none)."""
    try:
        title = json.loads((root / REPORT_SETTINGS).read_text(encoding="utf-8")).get("title")
    except (OSError, ValueError, AttributeError):
        return None
    return title if isinstance(title, str) and title else None


def store_title(root: Path, title: str) -> None:
    """Keep ``title`` at the store's root (:data:`REPORT_SETTINGS`) so a rebuilt report (``interp
    report``) keeps it; a store that cannot be written is left as it is (logged)."""
    if not root.is_dir() or stored_title(root) == title:
        return
    try:
        (root / REPORT_SETTINGS).write_text(json.dumps({"title": title}, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        log.info("report: could not keep the title in %s: %s", root / REPORT_SETTINGS, exc)


def build_report(
    results: str | os.PathLike | ResultStore,
    out_path: str | os.PathLike,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    sections: SectionRegistry | Iterable[Section] | None = None,
    roles: Mapping[str, str] | None = None,
    strict: bool = False,
    require_units: bool = False,
) -> Path:
    """Write the report for the units in ``results`` to ``out_path`` (one self-contained HTML file).

    Args:
        results: a results directory or a :class:`ResultStore`.
        title: the page's title; it is kept in the store (:func:`store_title`). ``None``: the title
            kept there (a report rebuilt by ``interp report`` keeps the demo's), else :data:`DEFAULT_TITLE`.
        notes: lines for the notes box (e.g. "the two demo models are not a matched base/IFT pair").
        sections: the sections to render (default :data:`SECTIONS`, in the paper's order).
        roles: override the base / IFT role of model labels.
        strict: re-raise a section's exception instead of showing it as failed.
        require_units: refuse (``ValueError``) a results directory that is missing, unreadable or
            holds no valid unit, instead of writing a page of absent sections (``interp report``).

    Returns: the path written.

    Raises:
        OSError: ``out_path`` cannot be written (checked before anything is rendered).
        ValueError: ``results`` is not a directory (missing is an empty store unless
            ``require_units``) or cannot be read; with ``require_units``, no valid unit.
    """
    store = results if isinstance(results, ResultStore) else ResultStore(results)
    check_results_dir(store.root, must_exist=require_units)
    out = Path(out_path)
    check_writable(out)
    ctx = ReportContext(store, roles=roles)
    if require_units and not ctx.all_units():
        invalid = store.invalid()
        why = (f"{len(invalid)} unit file(s) are invalid, e.g. {invalid[0][0]}: {invalid[0][1]}" if invalid
               else "it holds no unit files")
        raise ValueError(f"no results to report in {str(store.root)!r}: {why} (run a sweep into it first)")
    if title is None:
        title = stored_title(store.root) or DEFAULT_TITLE
    else:
        store_title(store.root, title)
    secs = list(sections if sections is not None else SECTIONS)
    rendered = [render_section(s, ctx, strict) for s in secs]
    doc = render_page(ctx, rendered, title=title, notes=notes)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise OSError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out
