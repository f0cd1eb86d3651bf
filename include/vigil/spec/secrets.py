"""Secrets are referenced, never written: `${ENV_VAR}` placeholders or Airflow connection ids."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# Header names that carry credentials; their values must be references.
SECRET_HEADERS = re.compile(r"authorization|token|api[-_]?key|secret|password|cookie", re.I)
HOW_TO = (
    "put the value in an environment variable and write '${VAR_NAME}' instead "
    "(or keep it in an Airflow connection and name its conn_id)"
)


def has_reference(value: str) -> bool:
    return ENV_REF.search(value) is not None


def reject_literal_secret_in_url(url: str) -> str:
    password = urlsplit(url).password if "@" in url else None
    if password and not has_reference(password):
        raise ValueError(f"the URL holds a literal password; {HOW_TO}")
    return url


def reject_literal_secret_in_header(name: str, value: str) -> None:
    if SECRET_HEADERS.search(name) and not has_reference(value):
        raise ValueError(f"header {name!r} holds a literal secret; {HOW_TO}")
