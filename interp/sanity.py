"""Sanity flags: stored numbers that look wrong by construction, found across a sweep's units (the
cross-model summary ``sanity``, :mod:`interp.summaries`; the report shows each flag beside its
section's numbers and lists them all at the top).

What is flagged (each check a function of stored payloads and metas, tested by hand):

* :func:`zero_spread` — a pooled unit's standard deviation over prompts (``*_std``) is 0
  although it pools >= 2 prompts;
* :func:`identical_prompts` — a model's per-prompt units of one analysis are identical (apart
  from the prompt index): the prompts did not reach the model, or one result was copied;
* :func:`excluded_majority` — Fig. 2: more than half of the subjects were excluded (no snippets);
* :func:`same_below_different` — Fig. 3: same-relation cosine below different-relation cosine at
  most layers while relation layers are named;
* :func:`at_chance` — MMLU accuracy whose interval holds chance (``at_chance``);
* :func:`config_outliers` — units computed under a setting (a provenance component: seed, dtype,
  limits, lens, package versions, ...) that differs from the rest of the sweep's.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interp.results import UnitKey
from interp.serial import Serializable

#: a standard deviation at most this is 0 (the sd of equal floats is rounding, e.g. 5.6e-17)
ZERO_SD = 1e-12
#: payload keys that name the prompt of a per-prompt unit (left out when comparing prompts)
PROMPT_KEYS = frozenset({"prompt_index", "prompt"})


@dataclass(frozen=True)
class Flag(Serializable):
    """One suspicious number: the report ``sections`` that show it, the ``model`` (or "" for the
    sweep), ``what`` number and ``why`` it looks wrong, and the unit files it comes from."""

    sections: tuple[str, ...]
    model: str
    what: str
    why: str
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class SanityFlags(Serializable):
    """Every flag of the sweep, and how many units were checked."""

    flags: tuple[Flag, ...] = ()
    n_units: int = 0

    def for_section(self, section: str, models: Iterable[str] | None = None) -> list[Flag]:
        """The flags shown in ``section`` (of ``models``, all when ``None``)."""
        wanted = None if models is None else set(models)
        return [f for f in self.flags if section in f.sections and (wanted is None or f.model in wanted)]


def zero_spread(key: UnitKey, payload: Mapping[str, Any], n_prompts: int, sections: Sequence[str]) -> list[Flag]:
    """A flag per ``*_std`` of a pooled payload that is 0 (at most :data:`ZERO_SD`) over
    ``n_prompts`` >= 2 prompts.

    >>> [f.what for f in zero_spread(UnitKey("m", "pararel", "consistency", "all"),
    ...                              {"accuracy_std": 0.0, "consistency_std": 0.02}, 3, ("table2",))]
    ['pararel consistency: accuracy_std']
    """
    if key.prompt != "all" or n_prompts < 2:
        return []
    return [Flag(tuple(sections), key.model, f"{key.dataset} {key.analysis}: {k}",
                 f"the standard deviation over {n_prompts} prompts is 0: the prompts gave the same "
                 "number (did the prompt reach the model?)", (key.relpath,))
            for k, v in payload.items() if k.endswith(("_std", "_sd")) and isinstance(v, (int, float)) and abs(v) <= ZERO_SD]


def identical_prompts(keys: Sequence[UnitKey], payloads: Sequence[Mapping[str, Any]],
                      sections: Sequence[str]) -> Flag | None:
    """A flag when >= 2 per-prompt payloads of one model and analysis are equal apart from
    :data:`PROMPT_KEYS`.

    >>> ks = [UnitKey("m", "mrpc", "gap", p) for p in (0, 1)]
    >>> identical_prompts(ks, [{"gap": 0.1, "prompt_index": 0}, {"gap": 0.1, "prompt_index": 1}], ()).what
    'mrpc gap: per-prompt results'
    >>> identical_prompts(ks, [{"gap": 0.1}, {"gap": 0.2}], ()) is None
    True
    """
    if len(keys) < 2:
        return None
    canon = {json.dumps({k: v for k, v in p.items() if k not in PROMPT_KEYS}, sort_keys=True, default=str)
             for p in payloads}
    if len(canon) != 1:
        return None
    k = keys[0]
    return Flag(tuple(sections), k.model, f"{k.dataset} {k.analysis}: per-prompt results",
                f"the {len(keys)} prompts' results are identical (prompts {', '.join(str(x.prompt) for x in keys)}): "
                "different prompts should change at least some predictions or vectors", tuple(x.relpath for x in keys))


def excluded_majority(key: UnitKey, payload: Mapping[str, Any], sections: Sequence[str]) -> Flag | None:
    """Fig. 2: a flag when more than half of the subjects were excluded (no snippets).

    >>> excluded_majority(UnitKey("m", "pararel", "attributes", "all"),
    ...                   {"items": [["P1", "a"], ["P2", "b"]], "excluded_subjects": ["c", "d", "e"]}, ()).why
    '3 of 5 subjects (60%) have no snippets and were left out: the rate describes a minority of the subjects'
    """
    included = {s for _, s in payload.get("items") or []}
    excluded = set(payload.get("excluded_subjects") or []) - included
    total = len(included | excluded)
    if not total or 2 * len(excluded) <= total:
        return None
    return Flag(tuple(sections), key.model, f"{key.dataset} {key.analysis}: subjects excluded",
                f"{len(excluded)} of {total} subjects ({100 * len(excluded) / total:.0f}%) have no snippets and were "
                "left out: the rate describes a minority of the subjects", (key.relpath,))


def _estimates(curve: Any) -> list[float]:
    out = []
    for x in curve or []:
        v = x.get("estimate") if isinstance(x, Mapping) else x
        out.append(float(v) if isinstance(v, (int, float)) else math.nan)
    return out


def same_below_different(key: UnitKey, payload: Mapping[str, Any], sections: Sequence[str]) -> Flag | None:
    """Fig. 3: a flag when relation layers are named but the same-relation cosine is below the
    different-relation cosine at more than half of the layers.

    >>> iv = lambda v: {"estimate": v}
    >>> f = same_below_different(UnitKey("m", "pararel", "relations", "all"),
    ...     {"same": [iv(.1), iv(.2), iv(.9)], "different": [iv(.5), iv(.5), iv(.5)], "relation_layers": [1, 2]}, ())
    >>> f.why.split(":")[0]
    'same-relation cosine below different-relation cosine at 2 of 3 layers'
    """
    same, diff = _estimates(payload.get("same")), _estimates(payload.get("different"))
    pairs = [(s, d) for s, d in zip(same, diff) if math.isfinite(s) and math.isfinite(d)]
    below = sum(s < d for s, d in pairs)
    if not payload.get("relation_layers") or not pairs or 2 * below <= len(pairs):
        return None
    return Flag(tuple(sections), key.model, f"{key.dataset} {key.analysis}: relation layers",
                f"same-relation cosine below different-relation cosine at {below} of {len(pairs)} layers: "
                "queries of one relation are not closer than queries of different relations, yet relation layers "
                f"{payload['relation_layers']} are named", (key.relpath,))


def at_chance(key: UnitKey, payload: Mapping[str, Any], sections: Sequence[str]) -> Flag | None:
    """MMLU: a flag when chance lies inside the accuracy interval (the payload's ``at_chance``).

    >>> at_chance(UnitKey("m", "mmlu", "spread", "all"), {"at_chance": True, "chance": 0.25,
    ...           "accuracy": {"estimate": 0.26, "low": 0.2, "high": 0.31}}, ()).what
    'mmlu spread: accuracy at chance'
    """
    if not payload.get("at_chance"):
        return None
    acc = payload.get("accuracy") or {}
    iv = f" ({100 * acc['estimate']:.1f}%, 95% CI [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}])" \
        if all(isinstance(acc.get(k), (int, float)) for k in ("estimate", "low", "high")) else ""
    return Flag(tuple(sections), key.model, f"{key.dataset} {key.analysis}: accuracy at chance",
                f"chance ({100 * float(payload.get('chance', 0.25)):.0f}%) lies inside the accuracy interval{iv}: "
                "the spread measures noise and letter bias, not prompt sensitivity", (key.relpath,))


def config_outliers(components: Mapping[UnitKey, Mapping[str, Any]],
                    section_of: Callable[[UnitKey], Sequence[str]]) -> list[Flag]:
    """Units computed under a setting unlike the rest's: for each provenance component (model
    components left out: they differ by design), the units whose value is not the one most units
    have, one flag per (model, component, value); every group when no value is the most common.

    >>> c = {UnitKey("a", "mrpc", "gap", p): {"seed": 0} for p in (0, 1)} | {UnitKey("b", "mrpc", "gap", 0): {"seed": 1}}
    >>> [(f.model, f.what) for f in config_outliers(c, lambda k: ("table1",))]
    [('b', 'computed with seed = 1')]
    """
    by_comp: dict[str, dict[str, list[UnitKey]]] = {}
    for key, comps in components.items():
        for name, value in comps.items():
            if name.startswith("model.") or name == "inputs":
                continue
            by_comp.setdefault(name, {}).setdefault(json.dumps(value, sort_keys=True), []).append(key)
    flags = []
    for name, groups in sorted(by_comp.items()):
        if len(groups) < 2:
            continue
        counts = Counter({v: len(ks) for v, ks in groups.items()}).most_common()
        majority = counts[0][0] if counts[0][1] > counts[1][1] else None
        for value, keys in sorted(groups.items()):
            if value == majority:
                continue
            others = "; ".join(f"{n} with {v}" for v, n in counts if v != value)
            for model in sorted({k.model for k in keys}):
                mine = sorted((k for k in keys if k.model == model), key=str)
                sections = tuple(dict.fromkeys(s for k in mine for s in section_of(k)))
                flags.append(Flag(sections, model, f"computed with {name} = {value}",
                                  f"{len(mine)} unit(s) of {model} were computed with {name} = {value}, unlike the rest "
                                  f"of the sweep's units ({others}): rerun them under one config",
                                  tuple(k.relpath for k in mine)))
    return flags


def sanity_flags(units: Mapping[UnitKey, Any], section_of: Callable[[UnitKey], Sequence[str]]) -> SanityFlags:
    """Every check on the stored ``units`` (key -> :class:`interp.results.StoredUnit`; skipped units
    are left out); ``section_of(key)`` names the report sections showing a unit."""
    from interp.analysis import skipped_reason

    ok = {k: u for k, u in units.items() if skipped_reason(u.payload) is None}
    flags: list[Flag] = []
    groups: dict[tuple[str, str, str, str], list[UnitKey]] = {}
    for k in sorted(ok, key=str):
        if k.prompt != "all":
            groups.setdefault((k.model, k.dataset, k.analysis, k.extra), []).append(k)
    for ks in groups.values():
        f = identical_prompts(ks, [ok[k].payload for k in ks], section_of(ks[0]))
        if f:
            flags.append(f)
    pooled = {(k.model, k.dataset, k.analysis, k.extra) for k in ok if k.prompt == "all"}
    for k in sorted(ok, key=str):
        d, sections, group = ok[k].payload, section_of(k), (k.model, k.dataset, k.analysis, k.extra)
        if k.prompt == "all":
            flags += zero_spread(k, d, len(groups.get(group, [])), sections)
        elif group in pooled:
            continue  # the headline number is the pooled unit's
        check = {"attributes": excluded_majority, "relations": same_below_different, "spread": at_chance}.get(k.analysis)
        f = check(k, d, sections) if check else None
        if f:
            flags.append(f)
    comps = {k: (u.meta.get("provenance") or {}).get("components") or {} for k, u in ok.items()}
    flags += config_outliers(comps, section_of)
    return SanityFlags(tuple(flags), len(ok))
