"""Sweep configuration: one TOML file names models, datasets, analyses, prompts and limits.

Example (``configs/demo.toml``)::

    [sweep]
    output = "results/demo"
    seed = 0
    batch_size = 16

    [[models]]
    label = "gemma3-270m"
    spec = "gemma3-270m"
    kind = "base"

    [[models]]
    label = "smollm2-135m-instruct"
    spec = "smollm2-135m-instruct"
    kind = "ift"
    base = "gemma3-270m"      # the base model it was tuned from (for base-vs-IFT comparisons)

    [datasets]
    pararel = "data/pararel"  # a path, or "download" (fetch into $INTERP_CACHE/data)
    mrpc = "data/mrpc"

    [limits]
    pararel_max_facts = 20
    pararel_fact_selection = "sample"   # or "first": the first 20 facts in file order
    pararel_casing = "lower"            # or "pattern": see interp.prompts.pararel_prompt

Paths are relative to the config file's directory.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from interp.prompts import CASINGS
from interp.queries import FACT_ORDERS

#: Every analysis the sweep knows, by dataset.
ANALYSES: dict[str, tuple[str, ...]] = {
    "pararel": ("consistency", "gap", "layer_gap", "relations", "attributes", "extraction"),
    "mrpc": ("gap",),
    "tapaco": ("gap",),
    "mmlu": ("spread",),
    "becel": ("consistency",),
}
DATASETS = tuple(ANALYSES)

#: The [limits] keys that take one of a few values, and those values.
CHOICES: dict[str, tuple[str, ...]] = {
    "becel_method": ("probe", "finetune"),
    "pararel_casing": CASINGS,
    "pararel_fact_selection": FACT_ORDERS,
}


class ConfigError(ValueError):
    """A sweep configuration is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class ModelConfig:
    """One model of the sweep: ``kind`` is "base" or "ift"; ``base`` names an IFT model's base."""

    label: str
    spec: str
    kind: str = "base"
    base: str | None = None
    is_chat: bool | None = None  # default: IFT models use their chat template

    @property
    def chat(self) -> bool:
        return self.is_chat if self.is_chat is not None else self.kind == "ift"


@dataclass(frozen=True)
class Limits:
    """Caps for quick runs (``None`` = everything)."""

    pararel_relations: tuple[str, ...] | None = None
    pararel_max_facts: int | None = None
    pararel_restrict_candidates: bool = True
    #: "lower" (lower-case the pattern's first letter after base prompts 1 and 2's lead-in) or
    #: "pattern" (keep it); see interp.prompts.pararel_prompt
    pararel_casing: str = "lower"
    #: which pararel_max_facts facts per relation: "sample" (seeded random) or "first" (file order)
    pararel_fact_selection: str = "sample"
    relation_max_pairs: int = 2000
    mrpc_split: str = "dev"
    mrpc_max_pairs: int | None = None
    tapaco_max_sets: int | None = None
    mmlu_split: str = "test"
    mmlu_subjects: tuple[str, ...] | None = None
    mmlu_limit: int | None = None
    becel_tasks: tuple[str, ...] = ("snli", "rte", "mrpc", "wic")
    becel_max_train: int | None = 2000
    becel_max_eval: int | None = None
    #: "probe" (logistic regression on frozen last-token features: fast, CPU) or "finetune"
    #: (the paper's App. C.2: full fine-tuning over lr in {5e-4, 1e-4, 5e-5}; for a GPU)
    becel_method: str = "probe"
    #: RTE/MRPC/WiC symmetric pairs are swapped training rows: at most this share of the training
    #: split is held out (never trained on) to evaluate them; in (0, 1)
    becel_symmetric_max_share: float = 0.2
    n_boot: int = 1000


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep. ``datasets`` maps dataset name -> path (or "download")."""

    models: tuple[ModelConfig, ...]
    datasets: dict[str, str]
    analyses: tuple[str, ...] = ()
    prompts: tuple[int, ...] = (0, 1, 2)
    output: str = "results"
    seed: int = 0
    batch_size: int = 16
    device: str | None = None
    dtype: str | None = None
    wikipedia: str | None = None
    wikipedia_offline: bool = True
    representation: str = "post_norm"
    #: the logit lens of Fig. 2 (attribute rate) and Fig. 5/8 (extraction): "raw" = ``E h`` (the
    #: paper's definition, no final norm) or "normed" = the final norm first, then ``E``
    lens: str = "raw"
    limits: Limits = field(default_factory=Limits)
    notes: tuple[str, ...] = ()
    source: str | None = None

    def model(self, label: str) -> ModelConfig:
        for m in self.models:
            if m.label == label:
                return m
        raise KeyError(label)

    def wanted(self, dataset: str) -> tuple[str, ...]:
        """The analyses to run on ``dataset`` (all of its analyses unless ``analyses`` filters)."""
        names = ANALYSES[dataset]
        if not self.analyses:
            return names
        return tuple(a for a in names if a in self.analyses or f"{dataset}.{a}" in self.analyses)

    def to_dict(self) -> dict:
        return asdict(self)


def _tuple(v: Any) -> tuple | None:
    return None if v is None else tuple(v)


def from_dict(d: dict, *, base_dir: Path | None = None, source: str | None = None) -> SweepConfig:
    """Build and validate a :class:`SweepConfig` from a parsed TOML dict."""
    where = source or "config"
    base_dir = base_dir or Path.cwd()
    sweep = dict(d.get("sweep", {}))
    unknown = set(d) - {"sweep", "models", "datasets", "limits"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; expected [sweep], "
                          "[[models]], [datasets], [limits]")
    models = []
    for i, m in enumerate(d.get("models", [])):
        try:
            mc = ModelConfig(**m)
        except TypeError as e:
            raise ConfigError(f"{where}: [[models]] #{i + 1}: {e}") from None
        if mc.kind not in ("base", "ift"):
            raise ConfigError(f"{where}: model {mc.label!r}: kind must be 'base' or 'ift', "
                              f"got {mc.kind!r}")
        models.append(mc)
    if not models:
        raise ConfigError(f"{where}: no [[models]]")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}: duplicate model labels in {labels}")
    for m in models:
        if m.base is not None and m.base not in labels:
            raise ConfigError(f"{where}: model {m.label!r}: base {m.base!r} is not a model label")
    datasets = {}
    for name, path in d.get("datasets", {}).items():
        if name not in DATASETS:
            raise ConfigError(f"{where}: unknown dataset {name!r}; known: {list(DATASETS)}")
        datasets[name] = path if path == "download" else str((base_dir / path).resolve())
    lim = dict(d.get("limits", {}))
    known = {f.name for f in fields(Limits)}
    if set(lim) - known:
        raise ConfigError(f"{where}: unknown [limits] {sorted(set(lim) - known)}; known: "
                          f"{sorted(known)}")
    for k in ("pararel_relations", "mmlu_subjects", "becel_tasks"):
        if k in lim:
            lim[k] = _tuple(lim[k])
    known_sweep = {f.name for f in fields(SweepConfig)} - {"models", "datasets", "limits", "source"}
    if set(sweep) - known_sweep:
        raise ConfigError(f"{where}: unknown [sweep] keys {sorted(set(sweep) - known_sweep)}; "
                          f"known: {sorted(known_sweep)}")
    for k in ("analyses", "prompts", "notes"):
        if k in sweep:
            sweep[k] = tuple(sweep[k])
    if "output" in sweep:
        sweep["output"] = str((base_dir / sweep["output"]).resolve())
    if sweep.get("wikipedia"):
        sweep["wikipedia"] = str((base_dir / sweep["wikipedia"]).resolve())
    cfg = SweepConfig(models=tuple(models), datasets=datasets, limits=Limits(**lim),
                      source=source, **sweep)
    bad_prompts = [p for p in cfg.prompts if p not in (0, 1, 2)]
    if bad_prompts:
        raise ConfigError(f"{where}: prompts must be among 0, 1, 2; got {bad_prompts}")
    every = {a for v in ANALYSES.values() for a in v} | {f"{k}.{a}" for k, v in ANALYSES.items()
                                                          for a in v}
    if set(cfg.analyses) - every:
        raise ConfigError(f"{where}: unknown analyses {sorted(set(cfg.analyses) - every)}; "
                          f"known: {sorted(every)}")
    for key, allowed in CHOICES.items():
        value = getattr(cfg.limits, key)
        if value not in allowed:
            raise ConfigError(f"{where}: [limits] {key} must be one of "
                              f"{', '.join(map(repr, allowed))}; got {value!r}")
    share = cfg.limits.becel_symmetric_max_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ConfigError(f"{where}: [limits] becel_symmetric_max_share must be a number in (0, 1), "
                          f"got {share!r}")
    if cfg.lens not in ("raw", "normed"):
        raise ConfigError(f"{where}: [sweep] lens must be 'raw' (E h, the paper's) or 'normed' "
                          f"(final norm, then E); got {cfg.lens!r}")
    if cfg.representation not in ("post_norm", "pre_norm", "encoder_mean"):
        raise ConfigError(f"{where}: representation must be 'post_norm', 'pre_norm' or "
                          "'encoder_mean' (encoder-decoder models only)")
    return cfg


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep TOML file.

    Example:
        >>> cfg = load_config("configs/demo.toml")  # doctest: +SKIP
        >>> [m.label for m in cfg.models]  # doctest: +SKIP
        ['gemma3-270m', 'smollm2-135m-instruct']
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    try:
        d = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return from_dict(d, base_dir=p.parent.resolve(), source=str(p))
