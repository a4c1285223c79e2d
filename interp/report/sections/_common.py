"""Helpers the paper's sections share: pooling per-prompt units the way the pipeline does
(:func:`with_pooled`, ``pool_*``), the model families of Tables 1/2 vs 4/5, absent-results messages.

Store conventions (interp.config.ANALYSES): Table 1 = analysis "gap" on mrpc / tapaco / pararel;
Fig. 2 "attributes", Fig. 3 "relations", Fig. 4/6/7 "layer_gap", Fig. 5/8 + Table 7 "extraction"
on pararel; Table 2 "consistency" (pararel, becel: extra = task) and "spread" (mmlu). Payloads are
the analyses' ``to_dict()``; prompt "all" is the pooled result (pooled here when absent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from interp import figures
from interp.report.context import BASE, IFT, ReportContext, base_of
from interp.report.render import Absent
from interp.results import StoredUnit


def lens_name(normed: Any) -> str:
    """How a lens figure projected its vectors (from the payload's ``normed`` flag)."""
    return ("final norm, then unembedding (E·norm(h))" if normed
            else "unembedding only (E h, the paper's; no final norm)")


def unit_label(u: StoredUnit) -> str:
    """The legend label of a unit: its model, plus its variant (``extra``) if any."""
    return u.key.model + (f" [{u.key.extra}]" if u.key.extra else "")


Pool = Callable[[list[dict]], dict]


def with_pooled(units: Sequence[StoredUnit], pool: Pool | None = None) -> list[tuple[str, str, dict]]:
    """(label, prompt label, payload) per unit, plus, for each label with several prompts and no
    stored ``prompt="all"`` unit, ``pool(payloads)`` as its ``"mean"`` entry when ``pool`` is given."""
    out: list[tuple[str, str, dict]] = []
    groups: dict[str, list[StoredUnit]] = {}
    for u in units:
        groups.setdefault(unit_label(u), []).append(u)
    for label, us in groups.items():
        out.extend((label, figures.prompt_label(u.key.prompt), u.payload) for u in us)
        per_prompt = [u.payload for u in us if u.key.prompt != "all"]
        if pool is not None and len(per_prompt) > 1 and all(u.key.prompt != "all" for u in us):
            out.append((label, figures.MEAN, pool(per_prompt)))
    return out


def mean_entries(entries: Sequence[tuple[str, str, dict]]) -> dict[str, dict]:
    """label -> the pooled ("mean") payload, or the only prompt's payload when a label has one."""
    out: dict[str, dict] = {}
    for label, p, d in entries:
        if p == figures.MEAN or label not in out:
            out[label] = d
    return out


def pool_attributes(payloads: list[dict]) -> dict:
    """Pool Fig. 2 ``attributes`` payloads over prompts (``AttributeRates.pool``)."""
    from interp.analyses.attributes import AttributeRates

    return AttributeRates.pool([AttributeRates.from_dict(p) for p in payloads]).to_dict()


def pool_extraction(payloads: list[dict]) -> dict:
    """Pool Fig. 5/8 ``extraction`` payloads over prompts (``ExtractionRates.pool``)."""
    from interp.analyses.extraction import ExtractionRates

    return ExtractionRates.pool([ExtractionRates.from_dict(p) for p in payloads]).to_dict()


def pool_gap(payloads: list[dict]) -> dict:
    """Pool Table 1 ``gap`` payloads over prompts (``paraphrase_gap.combine_prompts``)."""
    from interp.analyses.paraphrase_gap import GapResult, combine_prompts

    return combine_prompts([GapResult.from_dict(p) for p in payloads]).to_dict()


def pool_layer_gap(payloads: list[dict]) -> dict:
    """Pool Fig. 4 ``layer_gap`` payloads over prompts (``paraphrase_gap.combine_prompts``)."""
    from interp.analyses.paraphrase_gap import SplitLayerGaps, combine_prompts

    return combine_prompts([SplitLayerGaps.from_dict(p) for p in payloads]).to_dict()


def needs(ctx: ReportContext, analysis: str, what: str, dataset: str | Sequence[str] | None = None) -> Absent | None:
    """Why ``what`` is absent when the store has no ``analysis`` results (on ``dataset``), else None."""
    if not ctx.units(analysis=analysis, dataset=dataset, mark_used=False):
        ds = f" on {dataset if isinstance(dataset, str) else ' / '.join(dataset)}" if dataset else ""
        return Absent(f"{what} needs `{analysis}` results{ds}; none in the store (run the sweep with it)")
    return None


def role_of(ctx: ReportContext, label: str) -> str:
    """The role of a unit label's model (the label without its ``[extra]``)."""
    return ctx.role(label.split(" [")[0])


def model_families(ctx: ReportContext) -> list[list[str]]:
    """The store's models grouped as the paper's tables group them: each base model with its IFT
    models (:func:`base_of`). The first group is the main family (the most models, then the first
    base by label; models of unknown role or base join it): Tables 1 and 2 show it. Each other
    family (T5-XL / FlanT5-XL, Falcon-7b / Falcon-7b-instruct) is a block of Tables 4 and 5.

    Example:
        >>> model_families(ctx)  # doctest: +SKIP
        [['llama-7b', 'baize-7b', ...], ['t5-xl', 'flan-t5-xl'], ['falcon-7b', 'falcon-7b-instruct']]
    """
    bases = ctx.models_with(BASE)
    fam: dict[str, list[str]] = {b: [b] for b in bases}
    loose: list[str] = []
    for m in ctx.models:
        if m.role == BASE:
            continue
        b = base_of(ctx, m.label) if m.role == IFT else None
        (fam[b] if b in fam else loose).append(m.label)
    if not fam:
        return [loose] if loose else []
    main = max(bases, key=lambda b: (len(fam[b]), -bases.index(b)))
    return [fam[main] + loose] + [fam[b] for b in bases if b != main]


def main_family(ctx: ReportContext) -> list[str] | None:
    """The models of Tables 1 and 2: every model (``None``) unless the store has several
    families, then the main one (:func:`model_families`)."""
    fams = model_families(ctx)
    return fams[0] if len(fams) > 1 else None


def other_families_note(ctx: ReportContext) -> str:
    """Tables 1 and 2's note naming the families shown in Tables 4 and 5 ("" if none)."""
    others = model_families(ctx)[1:]
    if not others:
        return ""
    return (" Other model families (" + "; ".join(" / ".join(f) for f in others)
            + ") are in Tables 4 and 5.")


def pool_pararel(payloads: list[dict]) -> dict:
    """Pool PARAREL ``consistency`` payloads over prompts (``consistency.combine_prompts``)."""
    from interp.analyses.consistency import ParaRelConsistency, combine_prompts

    return combine_prompts([ParaRelConsistency.from_dict(p) for p in payloads]).to_dict()


def becel_tasks(ctx: ReportContext) -> dict[str, list[dict]]:
    """model -> its BECEL task payloads (one unit per task)."""
    out: dict[str, list[dict]] = {}
    for u in ctx.units(analysis="consistency", dataset="becel"):
        out.setdefault(u.key.model, []).append(u.payload)
    return out


def pararel_consistency(payload: Mapping[str, Any]) -> float:
    """The PARAREL consistency estimate of a ``consistency`` payload (NaN if not found)."""
    for key in ("consistency", "pararel_consistency"):
        if key in payload:
            return figures.interval_parts(payload[key])[0]
    return math.nan
