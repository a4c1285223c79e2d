"""Sweep configuration: one TOML file names models, datasets, analyses, prompts and limits.

Example (a sweep file; the demo's own is the packaged ``interp/configs/demo.toml``, paths relative
to the demo data)::

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

Paths are relative to the config file's directory. The file is validated when it is read
(:func:`from_dict`): every key's type comes from the dataclasses' type hints, its range from
:data:`RULES` and its allowed values from :data:`CHOICES`; each model spec's form is checked by
:func:`interp.models.resolve_spec`. A :class:`ConfigError` names the file, the key and a fix.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
import types
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Union, get_args, get_origin, get_type_hints

from interp.data.becel import TASKS as BECEL_TASKS
from interp.data.mmlu import SPLITS as MMLU_SPLITS
from interp.data.mrpc import SPLIT_FILES as MRPC_SPLITS
from interp.models import DTYPES, ModelLoadError, ResolvedSpec, resolve_spec
from interp.prompts import CASINGS
from interp.queries import FACT_ORDERS

def analyses_by_dataset() -> dict[str, tuple[str, ...]]:
    """Every analysis the sweep knows, by dataset (from :mod:`interp.registry`)."""
    from interp import registry

    return registry.names_by_dataset()


#: The keys (of any section) that take one of a few values, and those values (for a list-valued
#: key: the values its items take).
CHOICES: dict[str, tuple[Any, ...]] = {
    "kind": ("base", "ift"),
    "representation": ("post_norm", "pre_norm", "encoder_mean"),
    "lens": ("raw", "normed"),
    "dtype": tuple(DTYPES),
    "prompts": (0, 1, 2),
    "becel_method": ("probe", "finetune"),
    "becel_tasks": BECEL_TASKS,
    "pararel_casing": CASINGS,
    "pararel_fact_selection": FACT_ORDERS,
    "mrpc_split": tuple(MRPC_SPLITS),
    "mmlu_split": MMLU_SPLITS,
}


def _choices(key: str) -> tuple[Any, ...]:
    """The values ``key`` takes: :data:`CHOICES`, and for ``analyses`` the registry's names
    (``name`` or ``dataset.name``)."""
    if key == "analyses":
        by_ds = analyses_by_dataset()
        return tuple(dict.fromkeys([a for v in by_ds.values() for a in v]
                                   + [f"{k}.{a}" for k, v in by_ds.items() for a in v]))
    return CHOICES.get(key, ())


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
    #: attention knockout (interp.analyses.knockout): at most this many PARAREL queries per prompt
    #: (whole items, round-robin over relations, seeded) and window centres per model
    knockout_max_queries: int | None = None
    knockout_max_windows: int | None = None
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
        names = analyses_by_dataset()[dataset]
        if not self.analyses:
            return names
        return tuple(a for a in names if a in self.analyses or f"{dataset}.{a}" in self.analyses)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    """What one config key takes beyond its type hint (for a list-valued key: each item).

    Attributes:
        min, max: bounds of a number (inclusive; exclusive with ``open``).
        pattern: a regular expression a string must match in full.
        distinct: a list's items must differ.
        nonempty: a list needs at least one item.
        check: a last test of a value (e.g. that torch parses a device name).
        what: how to describe the valid values (replaces the generic description).
        none: what leaving an optional key out means (said in the fix).
        example: a valid value to suggest when the default is not one.
    """

    min: float | None = None
    max: float | None = None
    open: bool = False
    pattern: str | None = None
    distinct: bool = False
    nonempty: bool = False
    check: Callable[[Any], bool] | None = None
    what: str | None = None
    none: str | None = None
    example: Any = None


def _is_device(v: str) -> bool:
    import torch

    try:
        torch.device(v)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


_ALL = "all"
#: Ranges and other constraints per section and key; types come from the dataclasses' hints and
#: allowed values from :data:`CHOICES`. A key without an entry only has to have its type.
RULES: dict[str, dict[str, Rule]] = {
    "sweep": {
        "prompts": Rule(distinct=True, nonempty=True),
        "seed": Rule(min=0, max=2**32 - 1, what="a non-negative integer (below 2**32)"),
        "batch_size": Rule(min=1),
        "device": Rule(check=_is_device, what='a torch device such as "cpu", "cuda", "cuda:1" or '
                       '"mps"', none="the best available", example="cuda"),
        "dtype": Rule(none="float32 on CPU, bfloat16 elsewhere", example="bfloat16"),
        "wikipedia": Rule(none="no snippet cache", example="data/wikipedia"),
        "lens": Rule(what='"raw" (E h, the paper\'s) or "normed" (final norm, then E)'),
    },
    "models": {
        "base": Rule(none="no base model"),
        "is_chat": Rule(none="chat template for IFT models only"),
    },
    "limits": {
        "pararel_relations": Rule(pattern=r"P\d+", distinct=True, nonempty=True, none=_ALL,
                                  what='a non-empty list of PARAREL relation ids such as "P36"',
                                  example=["P36"]),
        "pararel_max_facts": Rule(min=1, none=_ALL, example=20),
        "relation_max_pairs": Rule(min=1),
        "mrpc_max_pairs": Rule(min=1, none=_ALL, example=200),
        "tapaco_max_sets": Rule(min=1, none=_ALL, example=100),
        "mmlu_subjects": Rule(distinct=True, nonempty=True, none=_ALL, example=["astronomy"]),
        "mmlu_limit": Rule(min=1, none=_ALL, example=20),
        "becel_tasks": Rule(distinct=True, nonempty=True),
        "becel_max_train": Rule(min=1, none=_ALL),
        "becel_max_eval": Rule(min=1, none=_ALL, example=200),
        "becel_symmetric_max_share": Rule(min=0, max=1, open=True),
        "knockout_max_queries": Rule(min=1, none=_ALL, example=12),
        "knockout_max_windows": Rule(min=1, none="every layer", example=6),
        "n_boot": Rule(min=1, what="a positive integer (bootstrap resamples; at least 100 for a "
                       "usable interval)"),
    },
}


@dataclass(frozen=True)
class _Key:
    """One key of a section: its name, type (from the dataclass hint), rule and default."""

    name: str
    type: type
    is_list: bool
    optional: bool
    rule: Rule
    choices: tuple[Any, ...]
    default: Any


#: Fields of the dataclasses that are not keys of their table.
_NOT_KEYS = {"source"}


def _keys(cls: type, section: str) -> dict[str, _Key]:
    """The keys of dataclass ``cls``'s table, read from its fields' type hints."""
    hints = get_type_hints(cls)
    out = {}
    for f in fields(cls):
        if f.name in _NOT_KEYS:
            continue
        hint, optional, is_list = hints[f.name], False, False
        if get_origin(hint) in (Union, types.UnionType):
            args = [a for a in get_args(hint) if a is not type(None)]
            optional, hint = len(args) < len(get_args(hint)), args[0]
        if get_origin(hint) is tuple:
            is_list, hint = True, get_args(hint)[0]
        if hint not in (bool, int, float, str):
            continue  # models, datasets, limits: sections of their own
        default = None if f.default is MISSING else f.default
        out[f.name] = _Key(f.name, hint, is_list, optional, RULES[section].get(f.name, Rule()),
                           _choices(f.name), default)
    return out


def _toml(v: Any) -> str:
    """``v`` written as in a TOML file."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _a(v: Any) -> str:
    """The TOML kind of ``v``, with its article."""
    for t, name in ((bool, "a boolean"), (str, "a string"), (int, "an integer"), (float, "a float"),
                    (list, "a list"), (tuple, "a list"), (dict, "a table")):
        if isinstance(v, t):
            return name
    return f"a {type(v).__name__}"


def _scalar_ok(v: Any, k: _Key, constrained: bool = True) -> bool:
    t = k.type
    if t is bool:
        ok = isinstance(v, bool)
    elif t is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif t is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    else:
        ok = isinstance(v, str) and v.strip() != ""
    if not ok or not constrained:
        return ok
    r = k.rule
    if r.min is not None and (v <= r.min if r.open else v < r.min):
        return False
    if r.max is not None and (v >= r.max if r.open else v > r.max):
        return False
    if k.choices and v not in k.choices:
        return False
    if r.pattern and not re.fullmatch(r.pattern, v):
        return False
    return r.check is None or r.check(v)


def _valid(v: Any, k: _Key, constrained: bool = True) -> bool:
    """Whether ``v`` is a valid value of key ``k`` (only its type when not ``constrained``)."""
    if v is None:
        return k.optional
    if not k.is_list:
        return _scalar_ok(v, k, constrained)
    if not isinstance(v, (list, tuple)) or not all(_scalar_ok(x, k, constrained) for x in v):
        return False
    if constrained and k.rule.nonempty and not v:
        return False
    return not (constrained and k.rule.distinct and len(set(v)) != len(v))


def _describe(k: _Key) -> str:
    """What key ``k`` must be, in words."""
    r = k.rule
    if r.what:
        return r.what
    plural = k.is_list
    if k.choices:
        one = ("values among " if plural else "one of ") + ", ".join(map(_toml, k.choices))
    elif k.type is bool:
        one = "true or false"
    elif k.type is int:
        if r.min is not None and r.max is not None:
            one = f"{'integers' if plural else 'an integer'} from {r.min} to {r.max}"
        elif r.min == 1:
            one = "positive integers" if plural else "a positive integer"
        elif r.min == 0:
            one = "non-negative integers" if plural else "a non-negative integer"
        else:
            one = "integers" if plural else "an integer"
    elif k.type is float:
        lo, hi = ("(", ")") if r.open else ("[", "]")
        one = f"a number in {lo}{r.min}, {r.max}{hi}" if r.min is not None else "a number"
    else:
        one = "non-empty strings" if plural else "a non-empty string"
    if not plural:
        return one
    return (f"a {'non-empty ' if r.nonempty else ''}list of {'distinct ' if r.distinct else ''}"
            f"{one}")


def _candidates(v: Any, k: _Key) -> list[Any]:
    """Values the writer of ``v`` probably meant, most likely first (checked by the caller)."""
    t, out = k.type, []
    if k.is_list:
        if isinstance(v, str):
            out.append([x.strip() for x in v.split(",") if x.strip()])
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        try:
            items = list(dict.fromkeys(items))  # the repeated items dropped
        except TypeError:  # an unhashable item (a table)
            return out
        one = _Key(k.name, t, False, False, k.rule, k.choices, None)
        out.append([next((c for c in _candidates(x, one) if _scalar_ok(c, k)), x) for x in items])
        return out
    if t is int:
        if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
            out.append(int(v))
        if isinstance(v, float) and v.is_integer():
            out.append(int(v))
    elif t is float:
        try:
            out.append(float(v) if isinstance(v, str) else v)
        except ValueError:
            pass
    elif t is bool:
        if isinstance(v, str) and v.strip().lower() in ("true", "yes", "on", "1", "y"):
            out.append(True)
        if isinstance(v, str) and v.strip().lower() in ("false", "no", "off", "0", "n"):
            out.append(False)
        if isinstance(v, int) and v in (0, 1):
            out.append(bool(v))
    elif t is str:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(str(v))
        if isinstance(v, str) and k.choices:
            low = {str(c).lower(): c for c in k.choices}
            out.append(low.get(v.strip().lower()))
            out += difflib.get_close_matches(v, [str(c) for c in k.choices], n=1, cutoff=0.5)
    return out


def _fix(v: Any, k: _Key) -> str:
    """How to write key ``k`` instead of ``v``."""
    for c in _candidates(v, k):
        if c is not None and _valid(c, k):
            return f"write {k.name} = {_toml(c)}"
    first = k.choices[:1] if k.is_list else next(iter(k.choices), None)
    example = next((c for c in (k.default, k.rule.example, first)
                    if c is not None and _valid(c, k)), None)
    text = f"write e.g. {k.name} = {_toml(example)}" if example is not None else ""
    if k.optional and k.rule.none:
        text += f"{' or ' if text else ''}leave {k.name} out ({k.rule.none})"
    return text


def _check(v: Any, k: _Key, where: str, loc: str) -> Any:
    """``v`` as the config's value of ``k`` (lists become tuples); :class:`ConfigError` naming the
    file, the section and the key, with a fix, when it is not valid."""
    if _valid(v, k):
        if v is None:
            return v
        if k.is_list:
            return tuple(float(x) if k.type is float else x for x in v)
        return float(v) if k.type is float else v
    got = _toml(v) if _valid(v, k, constrained=False) else f"{_toml(v)} ({_a(v)})"
    fix = _fix(v, k)
    raise ConfigError(f"{where}: {loc} {k.name} must be {_describe(k)}, got {got}"
                      + (f"; {fix}" if fix else ""))


def _section(raw: Any, cls: type, section: str, where: str, loc: str) -> dict[str, Any]:
    """Check one table of the file against dataclass ``cls``: unknown keys, then every key's
    type, range and allowed values. Returns the checked values."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {loc} must be a table, got {_toml(raw)} ({_a(raw)})")
    keys = _keys(cls, section)
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(keys), n=1)
        raise ConfigError(f"{where}: unknown {loc} {unknown}"
                          f"{f' (did you mean {close[0]!r}?)' if close else ''}; known: "
                          f"{sorted(keys)}")
    return {name: _check(v, keys[name], where, loc) for name, v in raw.items()}


def from_dict(d: dict, *, base_dir: Path | None = None, source: str | None = None) -> SweepConfig:
    """Build and validate a :class:`SweepConfig` from a parsed TOML dict.

    Every key's type, range and allowed values are checked (:data:`RULES`, :data:`CHOICES`),
    and every model spec's form (:func:`interp.models.resolve_spec`, without looking for files):
    a :class:`ConfigError` names the file, the key and a fix.
    """
    where = source or "config"
    base_dir = base_dir or Path.cwd()
    unknown = set(d) - {"sweep", "models", "datasets", "limits"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; expected [sweep], "
                          "[[models]], [datasets], [limits]")
    sweep = _section(d.get("sweep", {}), SweepConfig, "sweep", where, "[sweep]")
    raw_models = d.get("models", [])
    if not isinstance(raw_models, list):
        raise ConfigError(f"{where}: models must be an array of tables: write each model as "
                          "[[models]] with label = ..., spec = ...")
    models = []
    for i, m in enumerate(raw_models):
        loc = f"[[models]] #{i + 1}" + (f" ({_toml(m['label'])})" if isinstance(m, dict)
                                        and isinstance(m.get("label"), str) else "")
        checked = _section(m, ModelConfig, "models", where, loc)
        if "label" not in checked or "spec" not in checked:
            raise ConfigError(f"{where}: {loc} needs a label and a spec, e.g. label = \"base\", "
                              "spec = \"gemma3-270m\"")
        try:
            resolve_spec(checked["spec"], check_files=False)
        except ModelLoadError as e:
            raise ConfigError(f"{where}: {loc} spec: {e}") from None
        models.append(ModelConfig(**checked))
    if not models:
        raise ConfigError(f"{where}: no [[models]]")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}: duplicate model labels in {labels}")
    for label in labels:
        if label.startswith("_"):  # "_sweep" holds the cross-model summaries (interp.analysis.SWEEP)
            raise ConfigError(f"{where}: model label {label!r}: labels may not start with \"_\" "
                              f"(reserved); write e.g. label = \"{label.lstrip('_') or 'model'}\"")
    for m in models:
        if m.base is not None and m.base not in labels:
            raise ConfigError(f"{where}: model {m.label!r}: base {m.base!r} is not a model label; "
                              f"labels: {labels}")
    raw_datasets = d.get("datasets", {})
    if not isinstance(raw_datasets, dict):
        raise ConfigError(f"{where}: [datasets] must be a table of name = path")
    datasets = {}
    for name, path in raw_datasets.items():
        known = tuple(analyses_by_dataset())
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise ConfigError(f"{where}: unknown dataset {name!r}"
                              f"{f' (did you mean {close[0]!r}?)' if close else ''}; known: "
                              f"{list(known)}")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(f"{where}: [datasets] {name} must be a path or \"download\", got "
                              f"{_toml(path)} ({_a(path)}); write e.g. {name} = \"data/{name}\"")
        datasets[name] = path if path == "download" else str((base_dir / path).resolve())
    lim = _section(d.get("limits", {}), Limits, "limits", where, "[limits]")
    if "output" in sweep:
        sweep["output"] = str((base_dir / sweep["output"]).resolve())
    if sweep.get("wikipedia"):
        sweep["wikipedia"] = str((base_dir / sweep["wikipedia"]).resolve())
    return SweepConfig(models=tuple(models), datasets=datasets, limits=Limits(**lim),
                       source=source, **sweep)


def resolve_models(cfg: SweepConfig, *, check_files: bool = True) -> dict[str, ResolvedSpec | str]:
    """Each model's spec resolved by :func:`interp.models.resolve_spec` (as
    :func:`~interp.models.load_model` will), by label, without loading weights: a
    :class:`~interp.models.ResolvedSpec`, or the reason it cannot load (naming the file and
    the model). With ``check_files`` the files a spec needs are looked for too."""
    out: dict[str, ResolvedSpec | str] = {}
    for m in cfg.models:
        try:
            out[m.label] = resolve_spec(m.spec, check_files=check_files)
        except ModelLoadError as e:
            out[m.label] = f"{cfg.source or 'config'}: [[models]] {m.label!r} spec: {e}"
    return out


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep TOML file.

    Example:
        >>> cfg = load_config("configs/paper.toml")  # doctest: +SKIP
        >>> [m.label for m in cfg.models]  # doctest: +SKIP
        ['llama-7b', 'baize-7b', ...]
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    try:
        d = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return from_dict(d, base_dir=p.parent.resolve(), source=str(p))
