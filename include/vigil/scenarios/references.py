"""Cross references inside a scenario, each placed on its line by the loader.

- every target a step, `uses` or a suite names exists and is of a kind the step can talk
  to (an `http` step: an `http` target; `sql`: `postgres`; `subscribe`: `websocket` or
  `http`);
- a step that writes (a POST, a message sent on a WebSocket) points at a target with
  `allow_writes: true`, and so does every target a suite uses;
- every `{{variable}}` a step uses is defined by then (a journey variable, a built-in,
  or a value an earlier step captured), every `messages` step reads a subscription opened
  before it, and `parallel.expect.distinct` names values its copies capture.

Like `vigil.spec.references`, it reads the raw YAML (any shape tolerated: field
validation reports the shapes) as well as the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigil.scenarios.templating import BUILTINS, names_in
from vigil.spec.errors import did_you_mean
from vigil.spec.references import Loc, ReferenceProblem

_READS = ("GET", "HEAD", "OPTIONS")
# What each action may point at.
_TARGET_KINDS = {
    "http": ("http",),
    "wait_for.http": ("http",),
    "sql": ("postgres",),
    "wait_for.sql": ("postgres",),
    "subscribe": ("websocket", "http"),
}
# Inside `parallel`, the copy's own built-ins.
_COPY_BUILTINS = {"copy"}


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _keys(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [k for k in value if isinstance(k, str)]
    return []


def reference_problems(loc: Loc, check: Any, targets: Mapping[str, Any]) -> list[ReferenceProblem]:
    kind = _get(check, "kind")
    home = _get(check, "target")
    problems: list[ReferenceProblem] = []
    suite_writes = "a test suite runs against it (and may write, even delete)"
    for index, name in enumerate(_list(_get(check, "uses"))):
        why = suite_writes if kind == "suite" else None
        problems += _target(targets, (*loc, "uses", index), name, None, writes=why)
    if kind == "suite":
        if isinstance(home, str) and home in targets:
            problems += _consent(targets, (*loc, "target"), home, suite_writes)
        return problems
    if kind != "journey":
        return problems
    defined = set(BUILTINS) - _COPY_BUILTINS
    defined.update(_keys(_get(check, "variables")))
    walk = _Walk(targets, home if isinstance(home, str) else None, problems)
    captured = walk.steps((*loc, "steps"), _list(_get(check, "steps")), defined, set())
    # Cleanup sees everything any step may have captured (a missing one, because its step
    # never ran, skips that cleanup step at run time).
    walk.steps((*loc, "cleanup"), _list(_get(check, "cleanup")), defined | captured, walk.opened)
    return problems


class _Walk:
    def __init__(self, targets: Mapping[str, Any], home: str | None, out: list[Any]) -> None:
        self.targets, self.home, self.out = targets, home, out
        self.opened: set[str] = set()

    def steps(
        self, loc: Loc, steps: list[Any], defined: set[str], subscriptions: set[str]
    ) -> set[str]:
        """Check `steps` in order; returns every name they capture."""
        known = set(defined)
        captured: set[str] = set()
        for index, step in enumerate(steps):
            here = (*loc, index)
            new = self.step(here, step, known, subscriptions)
            known |= new
            captured |= new
        return captured

    def step(self, loc: Loc, step: Any, known: set[str], subscriptions: set[str]) -> set[str]:
        for action in ("http", "sql", "subscribe"):
            body = _get(step, action)
            if body is not None:
                self._action(loc, action, action, body, known)
        wait = _get(step, "wait_for")
        if wait is not None:
            for inner in ("http", "sql"):
                body = _get(wait, inner)
                if body is not None:
                    self._action((*loc, "wait_for"), inner, f"wait_for.{inner}", body, known)
            self._variables((*loc, "wait_for", "until"), _get(wait, "until"), known)
        self._variables((*loc, "expect"), _get(step, "expect"), known)
        subscribe = _get(step, "subscribe")
        if subscribe is not None and isinstance(_get(subscribe, "name"), str):
            self.opened.add(_get(subscribe, "name"))
            subscriptions.add(_get(subscribe, "name"))
        messages = _get(step, "messages")
        if messages is not None:
            self._messages((*loc, "messages"), messages, known, subscriptions)
        captured = set(_keys(_get(step, "capture")))
        parallel = _get(step, "parallel")
        if parallel is not None:
            captured |= self._parallel((*loc, "parallel"), parallel, known, subscriptions)
        return captured

    def _parallel(
        self, loc: Loc, parallel: Any, known: set[str], subscriptions: set[str]
    ) -> set[str]:
        inside = self.steps(
            (*loc, "steps"), _list(_get(parallel, "steps")), known | _COPY_BUILTINS, subscriptions
        )
        expect = _get(parallel, "expect")
        for index, name in enumerate(_list(_get(expect, "distinct"))):
            if isinstance(name, str) and name not in inside:
                self.out.append(
                    ReferenceProblem(
                        (*loc, "expect", "distinct", index),
                        f"no step of this parallel captures {name!r}",
                        found=repr(name),
                        expected=_one_of(inside),
                        hint=did_you_mean(name, inside)
                        or "capture it in a step of the copies: capture: {order_id: $.id}",
                    )
                )
        return inside

    def _messages(self, loc: Loc, messages: Any, known: set[str], opened: set[str]) -> None:
        name = _get(messages, "subscription")
        if isinstance(name, str) and name not in opened:
            self.out.append(
                ReferenceProblem(
                    (*loc, "subscription"),
                    f"no earlier step subscribes as {name!r}",
                    found=repr(name),
                    expected=_one_of(opened),
                    hint=did_you_mean(name, opened)
                    or "open it first: a step with subscribe: {name: ..., target: ...}",
                )
            )
        for field in ("where", "sequence", "include"):
            self._variables((*loc, field), _get(messages, field), known)

    def _action(self, loc: Loc, action: str, role: str, body: Any, known: set[str]) -> None:
        name = _get(body, "target")
        if name is None and action == "http":
            name = self.home
            where: Loc = (*loc, action)
        else:
            where = (*loc, action, "target")
        method = _get(body, "method")
        writes = None
        if action == "http" and isinstance(method, str) and method.upper() not in _READS:
            writes = f"a {method.upper()} step writes to it"
        elif action == "subscribe" and _list(_get(body, "send")):
            writes = "this step sends messages to it"
        if isinstance(name, str):
            self.out += _target(self.targets, where, name, _TARGET_KINDS[role], writes=writes)
        for field in ("path", "query", "headers", "body", "params", "send", "auth", "ready"):
            self._variables((*loc, action, field), _get(body, field), known)

    def _variables(self, loc: Loc, value: Any, known: set[str]) -> None:
        if value is None:
            return
        value = _plain(value)
        for name in names_in(value):
            if name not in known:
                self.out.append(
                    ReferenceProblem(
                        loc,
                        f"'{{{{{name}}}}}' is not defined before this step",
                        found=repr(name),
                        expected=_one_of(known),
                        hint=did_you_mean(name, known)
                        or "define it under variables:, or capture it in an earlier step",
                    )
                )
                return  # one problem per field: the rest would repeat it


def _plain(value: Any) -> Any:
    """Models (conditions, auth) as the text a spec wrote, for the template scan."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping | str | int | float | bool):
        return value
    dump = getattr(value, "model_dump", None)
    return dump() if dump is not None else str(value)


def _target(
    targets: Mapping[str, Any],
    loc: Loc,
    name: Any,
    kinds: tuple[str, ...] | None,
    *,
    writes: str | None,
) -> list[ReferenceProblem]:
    """`name` is a target of one of `kinds`; when it `writes` (why, in words), one that
    accepts test traffic."""
    if not isinstance(name, str):
        return []
    target = targets.get(name)
    if target is None:
        return [
            ReferenceProblem(
                loc,
                f"unknown target {name!r}",
                found=repr(name),
                expected=_one_of(targets),
                hint=did_you_mean(name, targets) or f"declared targets: {_one_of(targets)}",
            )
        ]
    kind = _get(target, "kind")
    if kinds is not None and isinstance(kind, str) and kind not in kinds:
        wanted = " or ".join(repr(k) for k in kinds)
        return [
            ReferenceProblem(
                loc,
                f"this step needs a {wanted} target, but {name!r} is a {kind!r} target",
                found=repr(name),
                hint=f"point it at a target of kind: {' or '.join(kinds)}",
            )
        ]
    if writes:
        return _consent(targets, loc, name, writes)
    return []


def _consent(targets: Mapping[str, Any], loc: Loc, name: str, why: str) -> list[ReferenceProblem]:
    if _get(targets.get(name), "allow_writes") is True:
        return []
    return [
        ReferenceProblem(
            loc,
            f"{why}, but target {name!r} does not declare allow_writes: true",
            found=repr(name),
            hint=f"add `allow_writes: true` to targets.{name} if it accepts test traffic "
            "(a test copy, never a production system), or use a read-only step",
        )
    ]


def _one_of(names: Any) -> str:
    return ", ".join(sorted(names)) or "(none)"


__all__ = ["reference_problems"]
