"""Recognising a Great Expectations 0.x suite, so it gets one message instead of hundreds.

A 0.x suite (GX 0.4-0.18) names itself `expectation_suite_name` and its expectations
`expectation_type`; Vigil reads the 1.x format (`name`, `type`). Listing every key that
differs would say the same thing once per expectation (131 lines for one real suite):
`load_suite` says it once, with the command that converts the file
(`vigil suites migrate`, `vigil.quality.migrate`). No GX import here.
"""

from __future__ import annotations

from typing import Any

# Suite keys only 0.x writes (1.x: name, id, suite_parameters).
SUITE_KEYS = {
    "expectation_suite_name": "name",
    "evaluation_parameters": "suite_parameters",
    "ge_cloud_id": "id",
    "data_asset_type": None,
    "data_asset_name": None,
}
# Expectation keys only 0.x writes (1.x: type, id, description).
EXPECTATION_KEYS = {
    "expectation_type": "type",
    "ge_cloud_id": "id",
    "expectation_context": "description",
}


def markers(data: Any) -> list[str]:
    """The 0.x keys a suite uses, at most one of each ([] for a 1.x suite)."""
    if not isinstance(data, dict):
        return []
    found = [key for key in SUITE_KEYS if key in data]
    items = data.get("expectations")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            found += [k for k in EXPECTATION_KEYS if k in item and k not in found]
    return found


def is_legacy(data: Any) -> bool:
    """A 0.x suite: 0.x keys, and no expectation written the 1.x way (`type`)."""
    items = data.get("expectations") if isinstance(data, dict) else None
    written_new = any(isinstance(i, dict) and "type" in i for i in items or [])
    return bool(markers(data)) and not written_new


def message(path: str, data: Any) -> str:
    keys = ", ".join(repr(k) for k in markers(data)[:3])
    return (
        f"this is a Great Expectations 0.x suite (it uses {keys}); Vigil reads GX 1.x "
        f"suites: convert it with `vigil suites migrate {path} --in-place`, which renames "
        "the keys, drops what 1.x no longer takes and lists what it could not carry over"
    )


def key_hint(key: str) -> str:
    """For a stray 0.x key in a 1.x suite: what 1.x calls it."""
    new = SUITE_KEYS.get(key) or EXPECTATION_KEYS.get(key)
    if key in SUITE_KEYS or key in EXPECTATION_KEYS:
        named = f"1.x calls it {new!r}" if new else "1.x has no such key"
        return f" (a GX 0.x key: {named}; `vigil suites migrate` converts a 0.x suite)"
    return ""
