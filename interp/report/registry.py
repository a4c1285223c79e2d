"""The registry of report sections: :data:`SECTIONS`, in the paper's order; a section module
registers itself with ``@SECTIONS.register(id, title, order=...)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from interp.report.context import ReportContext
from interp.report.render import Content

SectionBuilder = Callable[[ReportContext], Content]


@dataclass(frozen=True)
class Section:
    """One report section: anchor ``id``, ``title``, ``build(ctx) -> content | Absent``, and its
    ``order`` (the paper's order: Table 1 = 10, Table 2 = 20, ...)."""

    id: str
    title: str
    build: SectionBuilder
    order: float = 1000.0


class SectionRegistry:
    """Sections by id, iterated in ``order``. ``register`` is a decorator; registering an existing
    id replaces it (so the paper's sections can replace the placeholders)."""

    def __init__(self, sections: Iterable[Section] = ()) -> None:
        self._sections: dict[str, Section] = {s.id: s for s in sections}

    def add(self, section: Section) -> Section:
        if not section.id or not section.id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"section id must be alphanumeric (with - or _), got {section.id!r}")
        self._sections[section.id] = section
        return section

    def register(self, id: str, title: str, *, order: float = 1000.0) -> Callable[[SectionBuilder], SectionBuilder]:
        def deco(fn: SectionBuilder) -> SectionBuilder:
            self.add(Section(id, title, fn, order))
            return fn

        return deco

    def remove(self, id: str) -> None:
        self._sections.pop(id, None)

    def get(self, id: str) -> Section:
        return self._sections[id]

    def copy(self) -> "SectionRegistry":
        return SectionRegistry(self._sections.values())

    def __iter__(self) -> Iterator[Section]:
        return iter(sorted(self._sections.values(), key=lambda s: (s.order, s.id)))

    def __len__(self) -> int:
        return len(self._sections)

    def __contains__(self, id: object) -> bool:
        return id in self._sections


SECTIONS = SectionRegistry()
