"""CheckResults as JUnit XML, so a CI system shows Vigil's verdict natively.

One test suite per check family, one test case per result: `classname` is
`<family>.<target>` (the Airflow task id), `name` the check id. A failed check is a
`<failure>`, an errored one an `<error>`, a skipped one `<skipped>` with its reason; the
message is the result's one line, the text its evidence (expected, observed, details),
already truncated and masked like everything a result carries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from vigil.result import CheckResult, Status


def write_junit(results: Sequence[CheckResult], path: Path, name: str) -> Path:
    """Write `results` to `path` as one JUnit XML document named `name`."""
    xml = JUnitXml(name)
    for family in dict.fromkeys(r.family for r in results):
        suite = TestSuite(f"{name}.{family}")
        for result in (r for r in results if r.family == family):
            suite.add_testcase(_case(result))
        xml.add_testsuite(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
    return path


def _case(result: CheckResult) -> TestCase:
    case = TestCase(result.check_id, f"{result.family}.{result.target}", result.duration_ms / 1000)
    evidence = _evidence(result)
    if result.status is Status.FAILED:
        case.result = [_with_text(Failure(result.message, result.severity.value), evidence)]
    elif result.status is Status.ERROR:
        case.result = [_with_text(Error(result.message, result.severity.value), evidence)]
    elif result.status is Status.SKIPPED:
        case.result = [Skipped(result.message)]
    elif result.message:
        case.system_out = result.message
    return case


def _with_text(element: Failure | Error, text: str) -> Failure | Error:
    element.text = text
    return element


def _evidence(result: CheckResult) -> str:
    parts = {
        "check_kind": result.check_kind,
        "severity": result.severity.value,
        "expected": result.expected,
        "observed": result.observed,
        "details": result.details,
    }
    return json.dumps({k: v for k, v in parts.items() if v not in (None, {}, "")}, indent=2,
                      default=str)  # fmt: skip
