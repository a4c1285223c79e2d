"""What a section sees: :class:`ReportContext` (the store's units, loaded once, the models and their
roles, a color per model, the cross-model summaries the pipeline stored) and the roles themselves
(:func:`model_role`, :func:`base_of`). Roles are the config's (``kind = "base" | "ift"``, written into
every unit by the pipeline); ``"IFT"`` is only how a table shows ``"ift"`` (:func:`role_label`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from interp.analysis import SWEEP
from interp.figures import model_colors
from interp.analysis import skipped_reason
from interp.results import ResultStore, StoredUnit

#: the roles, as the config writes them (:data:`interp.serial.Role`), and "?" for a unit without one
BASE, IFT, UNKNOWN = "base", "ift", "?"
_ROLE_LABELS = {BASE: "base", IFT: "IFT", UNKNOWN: "?"}


def role_label(role: str) -> str:
    """How a table shows a role: "base", "IFT" or "?"."""
    return _ROLE_LABELS.get(role, role)


@dataclass(frozen=True)
class ModelInfo:
    """A model present in the store: its label, spec, role (base / IFT / ?) and where it appears."""

    label: str
    spec: str
    role: str
    n_units: int
    analyses: tuple[str, ...]


def _role_value(v: Any) -> str | None:
    if isinstance(v, bool):
        return IFT if v else BASE
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("base", "pretrained", "pt"):
            return BASE
        if s in ("ift", "instruct", "instruction-tuned", "chat", "it", "sft"):
            return IFT
    return None


def model_role(meta: Mapping[str, Any]) -> str:
    """``"base"`` / ``"ift"`` / ``"?"`` from a unit's meta: the config's ``kind`` (the pipeline writes
    ``config["model"]["kind"]``), or ``role`` / ``model_role`` / ``ift`` / ``is_chat`` of results
    written by other code; never guessed from the model's name.

    Example:
        >>> model_role({"config": {"model": {"kind": "ift"}}}), model_role({"model_spec": "gemma3-270m"})
        ('ift', '?')
    """
    cfg = meta.get("config") or {}
    for scope in (cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}, cfg):
        for k in ("kind", "role", "model_role", "ift", "is_ift", "is_chat"):
            r = _role_value(scope.get(k))
            if r:
                return r
    return UNKNOWN


def skipped_notes(ctx: "ReportContext") -> list[str]:
    """One note per (model, analysis) skipped as not defined for the model, with the reason and
    how many units it covers."""
    groups: dict[tuple[str, str, str], int] = {}
    for u in ctx.skipped:
        k = (u.key.model, f"{u.key.dataset} {u.key.analysis}", skipped_reason(u.payload) or "")
        groups[k] = groups.get(k, 0) + 1
    return [f"Skipped for {m}: {what} ({n} unit{'s' if n != 1 else ''}): {why}"
            for (m, what, why), n in groups.items()]


class ReportContext:
    """What a section builder sees: the store, its units (loaded once), the models and their roles,
    a color per model, and the options of the build. Units a section reads are listed in the footer.

    ``roles`` overrides the role (base / IFT) of a model label.
    """

    def __init__(self, store: ResultStore, *, roles: Mapping[str, str] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.options = dict(options or {})
        all_units = list(store.iter_units())
        #: the cross-model summaries (interp.summaries) by name, stored under the pseudo-model SWEEP
        self._summaries = {u.key.analysis: u for u in all_units if u.key.model == SWEEP}
        units = [u for u in all_units if u.key.model != SWEEP]
        #: units stored as skipped (their analysis is not defined for the model, e.g. Fig. 2 for
        #: an encoder-decoder): listed in the header's notes, never given to a section
        self.skipped = [u for u in units if skipped_reason(u.payload)]
        self._units = [u for u in units if not skipped_reason(u.payload)]
        self.used: dict[str, StoredUnit] = {}
        self.section_used: dict[str, StoredUnit] = {}  # the units the section being built read
        #: relpath -> why, of the units a sweep found stale and kept (``meta["stale"]``)
        self.stale: dict[str, str] = {u.key.relpath: u.meta["stale"] for u in self._units
                                      if isinstance(u.meta.get("stale"), str)}
        by_model: dict[str, list[StoredUnit]] = {}
        for u in self._units:
            by_model.setdefault(u.key.model, []).append(u)
        self.models: list[ModelInfo] = []
        for label, us in by_model.items():
            roles_seen = {model_role(u.meta) for u in us} - {UNKNOWN}
            role = (roles or {}).get(label) or (roles_seen.pop() if len(roles_seen) == 1 else UNKNOWN)
            self.models.append(ModelInfo(label, str(us[0].meta.get("model_spec", label)), role, len(us),
                                         tuple(sorted({u.key.analysis for u in us}))))
        # base models first, then IFT, as the paper's tables
        order = {BASE: 0, IFT: 1, UNKNOWN: 2}
        self.models.sort(key=lambda m: (order.get(m.role, 2), m.label))
        self.colors = model_colors([m.label for m in self.models])

    def role(self, model: str) -> str:
        """``"base"``, ``"ift"`` or ``"?"`` (a label with ``" [variant]"`` is its model's)."""
        model = model.split(" [")[0]
        return next((m.role for m in self.models if m.label == model), UNKNOWN)

    def summary(self, name: str) -> Any:
        """The stored cross-model summary ``name`` (:mod:`interp.summaries`) as its result class,
        or ``None`` when the store has none (listed in the footer as used)."""
        u = self._summaries.get(name)
        if u is None:
            return None
        self.used[u.key.relpath] = u
        self.section_used[u.key.relpath] = u
        return self.store.result(u.key)

    def stored_summaries(self) -> dict[str, Any]:
        """Every stored cross-model summary's payload by name (for the page's numbers; not marked used)."""
        return {name: u.payload for name, u in sorted(self._summaries.items())}

    def models_with(self, role: str) -> list[str]:
        return [m.label for m in self.models if m.role == role]

    def all_units(self) -> list[StoredUnit]:
        return list(self._units)

    def units(self, *, model: str | Iterable[str] | None = None, dataset: str | Iterable[str] | None = None,
              analysis: str | Iterable[str] | None = None, prompt: int | str | Iterable[int | str] | None = None,
              extra: str | Iterable[str] | None = None, mark_used: bool = True) -> list[StoredUnit]:
        """Units matching every given filter (a value or several), in model order (base first)."""
        filters = {"model": model, "dataset": dataset, "analysis": analysis, "prompt": prompt, "extra": extra}
        wanted = {n: ({v} if isinstance(v, (str, int)) else set(v)) for n, v in filters.items() if v is not None}
        rank = {m.label: i for i, m in enumerate(self.models)}
        out = [u for u in self._units if all(getattr(u.key, n) in vals for n, vals in wanted.items())]
        out.sort(key=lambda u: (rank.get(u.key.model, len(rank)),) + u.key.sort_key())
        if mark_used:
            self.used.update((u.key.relpath, u) for u in out)
            self.section_used.update((u.key.relpath, u) for u in out)
        return out


def base_of(ctx: ReportContext, model: str) -> str | None:
    """The base model an IFT model is compared with: ``config["base"]`` (or ``config["model"]["base"]``)
    of its units, else the only base model in the store."""
    for u in ctx.units(model=model, mark_used=False):
        cfg = u.meta.get("config") or {}
        for scope in (cfg, cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}):
            if isinstance(scope.get("base"), str):
                return scope["base"]
    bases = ctx.models_with(BASE)
    return bases[0] if len(bases) == 1 else None
