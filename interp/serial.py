"""One serialisation for every result dataclass: :class:`Serializable` gives ``to_dict`` and
``from_dict``, driven by the dataclass's fields and type hints (as tuned-lens's
``TunedLensConfig.to_dict`` / ``from_dict``), and the ``Literal`` names the results share.

``to_dict`` writes each field under its name: nested dataclasses as their ``to_dict`` (a class
that overrides it keeps its shape: ``extraction.EventRates``, ``QueryEvents`` and
``ExtractionRates`` write derived or compact fields), tuples and lists as lists, mappings as
dicts, enums as their value, ``Literal`` strings as themselves, numpy arrays and scalars as lists
and Python numbers. ``from_dict`` converts back by the type hints (lists to tuples where the
hint says ``tuple``; for a union, the first member that accepts the value).

**NaN policy** (one for every result): a non-finite float (NaN, +-inf) is written as ``None``
(JSON ``null``), so that payloads are strict JSON (the store, :mod:`interp.results`, accepts a
NaN token, but a browser's ``JSON.parse`` does not). ``from_dict`` reads ``null`` back as NaN
in a float-typed field (``float``, ``tuple[float, ...]``, ...) and as ``None`` where the hint
allows ``None`` (``float | None``). A NaN token in an older stored payload reads as NaN too.
Infinities are not kept (no result holds one): they read back as NaN.

**Keys**: ``from_dict`` raises ``ValueError`` naming the class and key for a key that is not a
field (no result has ever dropped a payload key, so stored results all load; a class that drops
a field must accept its old key in a ``from_dict`` of its own), and for a missing key of a field
without a default; a missing key of a field with a default takes the default (payloads written
before the field existed). Literal-typed fields are checked against their allowed strings.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point(Serializable):
    ...     block: Block
    ...     xs: tuple[float, ...]
    ...     label: str | None = None
    >>> p = Point("mlp", (0.5, float("nan")))
    >>> p.to_dict()
    {'block': 'mlp', 'xs': [0.5, None], 'label': None}
    >>> Point.from_dict({"block": "mlp", "xs": [0.5, None]})
    Point(block='mlp', xs=(0.5, nan), label=None)
    >>> Point.from_dict({"block": "mlp", "xs": [], "colour": 1})
    Traceback (most recent call last):
    ...
    ValueError: Point.from_dict: unknown key 'colour' (fields: block, xs, label)
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

#: A model's role in a sweep (``interp.config`` ``ModelSpec.kind``).
Role = Literal["base", "ift"]
#: A transformer block whose output is read: attention (MHSA) or MLP.
Block = Literal["mhsa", "mlp"]
#: A subset of queries / paraphrase pairs: all of them, or by the model's own answers.
Split = Literal["all", "correct", "incorrect", "consistent", "inconsistent"]
#: The vector a paraphrase analysis compares (``"vectors"``: given directly, no model).
Representation = Literal["post_norm", "pre_norm", "encoder_mean", "vectors"]

T = TypeVar("T", bound="Serializable")


class Serializable:
    """Mixin for dataclasses: ``to_dict`` / ``from_dict`` from the fields (see the module doc)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (non-finite floats as ``None``)."""
        return {f.name: dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
        """The instance :meth:`to_dict` wrote (``None`` -> NaN in float fields)."""
        return cls(**load_fields(cls, d))


def dump(v: Any) -> Any:
    """A JSON-able copy of ``v`` under the NaN policy (``None`` for non-finite floats).

    >>> dump((1, np.float32(0.5), {"a": [math.inf]}, np.arange(2)))
    [1, 0.5, {'a': [None]}, [0, 1]]
    """
    t = type(v)
    if t is float:
        return v if math.isfinite(v) else None
    if t is list or t is tuple:
        return [dump(x) for x in v]
    if v is None or t is int or t is str or t is bool:
        return v
    if isinstance(v, enum.Enum):
        return dump(v.value)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, np.ndarray):
        return dump(v.tolist())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        if hasattr(v, "to_dict"):
            return v.to_dict()
        return {f.name: dump(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Mapping):
        return {k: dump(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [dump(x) for x in v]
    return v


def load_fields(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``cls`` from its dict ``d`` (each field loaded by its type hint);
    unknown keys and missing required keys raise ``ValueError`` naming ``cls`` and the key."""
    if not isinstance(d, Mapping):
        raise ValueError(f"{cls.__name__}.from_dict: expected a dict, got {type(d).__name__}")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    for k in d:
        if k not in names:
            raise ValueError(f"{cls.__name__}.from_dict: unknown key {k!r} (fields: {', '.join(names)})")
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in fields:
        if f.name in d:
            try:
                out[f.name] = load(hints[f.name], d[f.name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{cls.__name__}.from_dict: field {f.name!r}: {exc}") from exc
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{cls.__name__}.from_dict: missing key {f.name!r}")
    return out


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def load(tp: Any, v: Any) -> Any:
    """``v`` (as :func:`dump` wrote it) converted to the type ``tp``.

    >>> load(tuple[float, ...], [1, None]), load(dict[str, tuple[int, int]], {"a": [1, 2]})
    ((1.0, nan), {'a': (1, 2)})
    """
    return _loader(tp)(v)


def _float(v: Any) -> float:
    return math.nan if v is None else float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_, int)):
        raise TypeError(f"expected a bool, got {v!r}")
    return bool(v)


def _int(v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)) or (
            isinstance(v, float) and not v.is_integer()):
        raise TypeError(f"expected an int, got {v!r}")
    return int(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a str, got {v!r}")
    return v


def _same(v: Any) -> Any:
    return v


@cache
def _loader(tp: Any) -> Callable[[Any], Any]:
    """The function that converts a dumped value to ``tp`` (built once per type)."""
    simple = {float: _float, int: _int, bool: _bool, str: _str, Any: _same, object: _same,
              np.ndarray: np.asarray}
    if tp in simple:
        return simple[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or origin is types.UnionType:
        nullable = type(None) in args
        options = [_loader(a) for a in args if a is not type(None)]

        def union(v: Any) -> Any:
            if v is None and nullable:
                return None
            if len(options) == 1:
                return options[0](v)
            errors = []
            for f in options:
                try:
                    return f(v)
                except (TypeError, ValueError) as exc:
                    errors.append(str(exc))
            raise ValueError(f"{v!r} matches none of {tp}: {'; '.join(errors)}")
        return union
    if origin is Literal:
        def literal(v: Any) -> Any:
            if v not in args:
                raise ValueError(f"{v!r} is not one of {args}")
            return v
        return literal
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if hasattr(tp, "from_dict"):
            return tp.from_dict
        return lambda v: tp(**load_fields(tp, v))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _loader(args[0])
        return lambda v: tuple([item(x) for x in v])
    if origin is tuple and args:
        items = [_loader(a) for a in args]

        def fixed(v: Any) -> tuple:
            if len(v) != len(items):
                raise ValueError(f"expected {len(items)} items for {tp}, got {len(v)}")
            return tuple(f(x) for f, x in zip(items, v))
        return fixed
    if origin in (list, Sequence) and args:
        item = _loader(args[0])
        return lambda v: [item(x) for x in v]
    if origin in (frozenset, set) and args:
        item = _loader(args[0])
        return lambda v: origin(item(x) for x in v)
    if origin in (dict, Mapping):
        key, val = (_loader(args[0]), _loader(args[1])) if args else (_same, _same)
        return lambda v: {key(k): val(x) for k, x in v.items()}
    if tp in (tuple, list, dict, frozenset, set) or origin in (tuple, list, dict, frozenset, set):
        return origin or tp
    raise TypeError(f"cannot load a value of type {tp}")
