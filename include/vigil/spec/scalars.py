"""Numbers a spec may not hold, found on the raw data so each one is reported at its line.

- an infinity or NaN (`.inf`, `.nan`), anywhere: every number in a spec is a count, a
  share, a time or a bound, and none is infinite; also text that pydantic would read as
  one (`"inf"`, `1e999`) where the model expects a number;
- a boolean where the model expects a number: YAML reads `yes`, `on` and `true` as true, and
  pydantic's lax mode then reads true as 1, so `count: yes` would mean 1. The model's type
  at each boolean is followed through fields (by name or alias), lists, dicts and unions
  discriminated by `kind`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[str | int, ...]
NUMBERS = (int, float)


def non_finite(data: Any, model: Any) -> Iterator[tuple[Loc, Any]]:
    """Every infinite or NaN float in a parsed document, and every text read as one where
    `model` expects a number."""
    stack: list[tuple[Any, Loc]] = [(data, ())]
    while stack:
        value, here = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            yield here, value
        elif isinstance(value, str) and _reads_non_finite(value):
            if _type_at(model, data, here) in NUMBERS:
                yield here, value
        elif isinstance(value, dict):
            stack.extend((v, (*here, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*here, i)) for i, v in enumerate(value))


def _reads_non_finite(text: str) -> bool:
    if len(text) > 400 or not text.strip():
        return False
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def booleans_for_numbers(data: Any, model: Any) -> Iterator[Loc]:
    """Where the document holds a boolean and `model` expects an int or a float."""
    for loc in _booleans(data):
        if _type_at(model, data, loc) in NUMBERS:
            yield loc


def _booleans(data: Any) -> Iterator[Loc]:
    stack: list[tuple[Any, Loc]] = [(data, ())]
    while stack:
        value, here = stack.pop()
        if isinstance(value, bool):
            yield here
        elif isinstance(value, dict):
            stack.extend((v, (*here, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*here, i)) for i, v in enumerate(value))


def _type_at(model: Any, data: Any, loc: Loc) -> Any:
    """The model's type at `loc`, following the data (to choose union members by `kind`)."""
    tp, value = model, data
    for elem in loc:
        tp = _resolve(tp, value)
        if isinstance(value, dict):
            tp = _field_type(tp, elem)
        elif isinstance(value, list):
            tp = _item_type(tp)
        else:
            return None
        if tp is None:
            return None
        value = value[elem]
    return _resolve(tp, value)


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tags(model: Any) -> tuple[Any, ...]:
    field = model.model_fields.get("kind") if _is_model(model) else None
    if field is None or get_origin(field.annotation) is not Literal:
        return ()
    return get_args(field.annotation)


def _resolve(annotation: Any, value: Any) -> Any:
    """The one type that applies to `value`; None when a union leaves it open."""
    tp = _strip(annotation)
    if get_origin(tp) not in (Union, types.UnionType):
        return tp
    members = [_strip(m) for m in get_args(tp) if m is not type(None)]
    if len(members) == 1:
        return _resolve(members[0], value)
    if all(m in NUMBERS for m in members):
        return float
    kind = value.get("kind") if isinstance(value, dict) else None
    chosen = [m for m in members if kind is not None and kind in _tags(m)]
    return chosen[0] if len(chosen) == 1 else None


def _field_type(tp: Any, key: Any) -> Any:
    if _is_model(tp):
        for name, info in tp.model_fields.items():
            if key in (name, info.alias):
                return info.annotation
        return None
    if get_origin(tp) is dict:
        return get_args(tp)[1]
    return None


def _item_type(tp: Any) -> Any:
    if get_origin(tp) in (list, tuple, set, frozenset):
        args = get_args(tp)
        return args[0] if args else None
    return None
