"""What every route shares: the app's settings, the store opened per request, the
specs, the clock; and the check that a form post comes from one of our pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.requests import Request

from vigil.results import ResultStore, StoreError
from vigil.spec.models import Spec
from vigil.ui.session import shared
from vigil.ui.specs import SpecSource, read_specs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    store: Callable[[], ResultStore]
    specs: SpecSource
    airflow: str  # Airflow's UI base: "", a path prefix or an http(s) URL
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def open_store(self) -> Iterator[ResultStore]:
        """The store for this request, its reads on one connection (a FastAPI dependency);
        failing to open it is the store being unreachable."""
        try:
            store = self.store()
        except StoreError:
            raise
        except Exception as exc:
            log.exception("Vigil UI: could not open the results store")
            raise StoreError(
                f"could not open the results store ({type(exc).__name__}); "
                "the API server's log says why"
            ) from exc
        yield from shared(store)

    def read_specs(self) -> Mapping[str, Spec]:
        return read_specs(self.specs)

    def now(self) -> datetime:
        return self.clock()


def same_origin(request: Request) -> None:
    """Refuse a form post another site made a browser send (the session cookie rides
    along): its Origin, or Sec-Fetch-Site, says it came from elsewhere."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPException(403, "form posts are accepted from Vigil's own pages only")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    if urlsplit(origin).netloc != host.split(",")[0].strip():
        raise HTTPException(403, "form posts are accepted from Vigil's own pages only")
