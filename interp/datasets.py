"""How each dataset enters a sweep (:class:`interp.analysis.Dataset` declarations).

A dataset's loader (``interp/data/<name>.py``) reads its files; the declaration here applies the
config's ``[limits]`` and turns the records into one model's prompts for one prompt index (Table 3),
with the positions its analyses capture. Add a dataset: a loader in ``interp/data/``, its
``[limits]`` keys in :class:`interp.config.Limits`, and one ``register(Dataset(...))`` below.
"""

from __future__ import annotations

from typing import Any

from interp.analysis import Dataset, JobInputs, Prepared
from interp.registry import register


def _pararel_load(cfg: Any, path: str | None) -> dict:
    from interp.data import pararel

    return pararel.load(path, relations=cfg.limits.pararel_relations)


def _pararel_prepare(job: JobInputs) -> Prepared:
    from interp.queries import pararel_queries

    lim = job.limits
    queries = pararel_queries(job.model, job.records, int(job.prompt), max_facts=lim.pararel_max_facts,
                              seed=job.seed, casing=lim.pararel_casing, fact_order=lim.pararel_fact_selection)
    if not queries:
        raise ValueError("no PARAREL queries (no relation with a causal pattern and facts)")
    return Prepared([q.prompt for q in queries],
                    {"last": "last", "subject": [q.subject_span for q in queries]}, queries)


def _mrpc_load(cfg: Any, path: str | None) -> list:
    from interp.data import mrpc

    pairs = mrpc.load(path, split=cfg.limits.mrpc_split)
    return pairs[: cfg.limits.mrpc_max_pairs] if cfg.limits.mrpc_max_pairs else pairs


def _tapaco_load(cfg: Any, path: str | None) -> list:
    from interp.data import tapaco

    return tapaco.load(path, limit_sets=cfg.limits.tapaco_max_sets)


def _sentences_prepare(job: JobInputs) -> Prepared:
    from interp.analyses import paraphrase_gap

    build = paraphrase_gap.mrpc_inputs if job.dataset.name == "mrpc" else paraphrase_gap.tapaco_inputs
    inputs = build(job.records)
    return Prepared(inputs.prompts(job.model, int(job.prompt)), None, inputs)


def _mmlu_load(cfg: Any, path: str | None) -> list:
    from interp.data import mmlu

    lim = cfg.limits
    questions = mmlu.load(path, split=lim.mmlu_split, subjects=lim.mmlu_subjects, limit=lim.mmlu_limit)
    if not questions:
        raise ValueError("no MMLU questions (check [limits] mmlu_subjects)")
    return questions


def _becel_load(cfg: Any, path: str | None) -> str | None:
    return path  # each task's classifier reads its own files (interp.finetune.run_becel)


register(Dataset("pararel", _pararel_load, _pararel_prepare,
                 limits=("pararel_relations", "pararel_max_facts", "pararel_restrict_candidates",
                         "pararel_casing", "pararel_fact_selection", "relation_max_pairs",
                         "knockout_max_queries", "knockout_max_windows")))
register(Dataset("mrpc", _mrpc_load, _sentences_prepare, limits=("mrpc_split", "mrpc_max_pairs")))
register(Dataset("tapaco", _tapaco_load, _sentences_prepare, limits=("tapaco_max_sets",)))
register(Dataset("mmlu", _mmlu_load, None, limits=("mmlu_split", "mmlu_subjects", "mmlu_limit")))
register(Dataset("becel", _becel_load, None,
                 limits=("becel_max_train", "becel_max_eval", "becel_method", "becel_symmetric_max_share"),
                 variants=lambda cfg: tuple(cfg.limits.becel_tasks)))
