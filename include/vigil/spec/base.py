"""What every spec model shares: one strict base and the name rule."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vigil.result import Severity

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# A required name or id (a connection id, a silence's name): "" or "  " is not one.
NonEmpty = Annotated[str, AfterValidator(_not_blank)]


class Strict(BaseModel):
    """Unknown keys are errors (a misspelt key must not be silently ignored); frozen."""

    # No inf/nan anywhere: a number that cannot be compared or turned into a duration
    # (the loader's scan reports it at its line first; this holds for built models too).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CheckBase(Strict):
    """What every check of every family has: a stable id, a target, a severity, a bound."""

    id: Name
    target: str
    severity: Severity = Severity.CRITICAL
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    description: str = ""
    # The cadences it runs on (a long test suite: weekly only); unset: every cadence that
    # runs its family.
    cadences: list[Literal["daily", "weekly", "monthly"]] | None = Field(default=None, min_length=1)

    def runs_on(self, cadence: str) -> bool:
        return self.cadences is None or cadence in self.cadences
