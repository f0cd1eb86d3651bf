"""The Jinja2 environment (autoescape on, strict undefined), filters, and report files.

Autoescaping is not optional here: messages and evidence come from the systems under
watch, and a report is opened in a browser.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from vigil.reports import journeys, svg
from vigil.reports.data import ReportError

TEMPLATES_DIR = Path(__file__).parent / "templates"
# A file name keeps what run ids are made of (scheduled__2025-01-01T06:00:00+00:00) and
# turns anything else (a slash above all) into "_", so a name cannot leave its folder.
_UNSAFE = re.compile(r"[^A-Za-z0-9._+:=@-]")


def templates(folder: Path) -> Environment:
    """A Jinja2 environment over `folder` with the reports' settings and filters: the
    reports' own templates, and the UI's pages (vigil.ui.render) built on the same.

    The reports' templates are also there under "reports/", so a UI page imports the
    macros both share ("reports/_macros.html": a scenario's trace) rather than a copy;
    a name without the prefix is only ever `folder`'s own."""
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(folder), PrefixLoader({"reports": FileSystemLoader(TEMPLATES_DIR)})]
        ),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ms=fmt_ms, pct=fmt_pct, dt=fmt_dt, pretty=pretty_json)
    # A scenario's evidence read for people (vigil.reports.journeys); None when it has none.
    env.filters.update(journey=journeys.trace_of, suite_case=journeys.suite_case_of)
    return env


@lru_cache(maxsize=1)
def environment() -> Environment:
    return templates(TEMPLATES_DIR)


def render(template: str, **context: Any) -> str:
    context.setdefault("generated_at", datetime.now(UTC))
    return environment().get_template(template).render(**context)


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else svg.millis(float(value))


def fmt_pct(rate: float | None) -> str:
    """A rate in [0, 1] as a percentage; "—" when nothing ran."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def fmt_dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def pretty_json(value: Any) -> str:
    """Evidence as indented JSON text (escaped by the template like any other value)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def safe_name(value: str, what: str) -> str:
    name = _UNSAFE.sub("_", value)
    if name.strip(".") == "":
        raise ReportError(f"{what} {value!r} cannot be used as a file or folder name")
    return name


def write(html: str, path: Path) -> Path:
    """Write atomically: a reader (a browser, a web server) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
