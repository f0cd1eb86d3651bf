"""Importing Great Expectations quietly, once, and only when a validation needs it.

`import great_expectations` costs 3-5 s and, untamed, writes ~214 INFO lines from its
docs decorators and a tqdm progress bar that Airflow shows as an error (STACK_NOTES). The
loggers must be raised *before* the import; the progress bars are switched off per context.
"""

from __future__ import annotations

import logging
import warnings
from types import ModuleType
from typing import Any

_QUIET_LOGGERS = (
    "great_expectations",
    "great_expectations._docs_decorators",
    "great_expectations.data_context.types.base",
)

_module: ModuleType | None = None


def gx() -> ModuleType:
    """The `great_expectations` module, imported on first use with its logging tamed."""
    global _module
    if _module is None:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", module="great_expectations")
        import great_expectations

        # Some GX modules reset their own logger's level when imported.
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        _module = great_expectations
    return _module


def ephemeral_context() -> Any:
    """A throwaway in-memory GX context with progress bars off."""
    great_expectations = gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = great_expectations.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    # An ephemeral context still serialises its whole project config to YAML, into an
    # in-memory store nothing reads back, on every data source, asset and batch definition
    # added: ~30-50 ms of a validation's fixed cost, for a context thrown away after it.
    ctx._save_project_config = _skip_save
    return ctx


def _skip_save() -> None:
    return None
