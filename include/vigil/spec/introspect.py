"""Which model sits at a pydantic error location: for "did you mean" and "allowed keys".

Follows a `loc` tuple through model fields, lists, dicts and `kind`-discriminated unions
(whose tag pydantic puts in the loc), using only the type annotations.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[str | int, ...]


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _members(tp: Any) -> list[Any]:
    return [_strip(m) for m in get_args(tp) if m is not type(None)]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def kind_tags(model: Any) -> tuple[str, ...]:
    field = model.model_fields.get("kind") if _is_model(model) else None
    if field is None or get_origin(field.annotation) is not Literal:
        return ()
    return tuple(str(arg) for arg in get_args(field.annotation))


def _step(tp: Any, elem: str | int) -> Any:
    tp = _strip(tp)
    if _is_union(tp):
        members = _members(tp)
        for member in members:
            if elem in kind_tags(member):
                return member  # the discriminator's tag: consumed by choosing the member
        return _step(members[0], elem) if len(members) == 1 else None
    if _is_model(tp):
        field = tp.model_fields.get(str(elem))
        return None if field is None else field.annotation
    origin = get_origin(tp)
    if origin in (list, tuple, set, frozenset):
        return get_args(tp)[0]
    if origin is dict:
        return get_args(tp)[1]
    return None


def type_at(root: Any, loc: Loc) -> Any:
    """The annotation found by following `loc` from `root`, or None when it leads nowhere."""
    tp = root
    for elem in loc:
        tp = _step(tp, elem)
        if tp is None:
            return None
    tp = _strip(tp)
    if _is_union(tp) and len(_members(tp)) == 1:
        return _members(tp)[0]
    return tp


def allowed_keys(root: Any, loc: Loc) -> tuple[str, ...]:
    """The keys the model at `loc` accepts; empty when `loc` is not a model."""
    tp = type_at(root, loc)
    return tuple(tp.model_fields) if _is_model(tp) else ()


def union_tags(root: Any, loc: Loc) -> tuple[str, ...]:
    """The `kind` values accepted at `loc`, when a discriminated union sits there."""
    tp = type_at(root, loc)
    if not _is_union(tp):
        return ()
    return tuple(tag for member in _members(tp) for tag in kind_tags(member))
