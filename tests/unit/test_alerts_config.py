"""The alerts config fails closed: unknown keys, dangling channel names, literal secrets and
impossible windows are errors naming the field; every kind has its implementation."""

from __future__ import annotations

import subprocess
import sys
import typing
from datetime import UTC, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from vigil.alerts.channels import SENDERS
from vigil.alerts.durations import format_duration, parse_duration
from vigil.alerts.resolver import Resolver
from vigil.alerts.rules import EVALUATORS
from vigil.alerts.signals import SIGNALS
from vigil.context import ConnectionInfo
from vigil.spec.alerts import (
    RULE_KINDS,
    AlertsConfig,
    DurationRegression,
    RunFailureRate,
    WindowFailureRate,
)
from vigil.spec.channels import CHANNEL_KINDS, EmailChannel
from vigil.spec.errors import SpecError
from vigil.spec.loader import load_spec

pytestmark = pytest.mark.unit

FULL: dict[str, Any] = {
    "channels": {
        "slack-oncall": {"kind": "slack", "webhook_url": "${SLACK_ONCALL_URL}"},
        "hook": {"kind": "webhook", "url": "https://hooks.example.org/vigil",
                 "secret": "${VIGIL_HOOK_SECRET}"},
        "email-team": {"kind": "email", "conn_id": "smtp_default", "to": ["team@example.org"],
                       "from": "vigil@example.org"},
        "log": {"kind": "log"},
    },
    "routes": {"critical": ["slack-oncall", "email-team"], "warning": ["log"]},
    "rules": [
        {"id": "run-rate", "kind": "run_failure_rate"},
        {"id": "flaky", "kind": "window_failure_rate", "window": {"last": "7d"},
         "group_by": ["family", "target"], "severity": "critical"},
        {"id": "streak", "kind": "consecutive_failures", "count": 3, "resolve_after": 2,
         "channels": ["hook"], "repeat_interval": "12h", "for_runs": 2},
        {"id": "slow", "kind": "duration_regression", "subject": "task"},
    ],
    "silences": [
        {"name": "sunday-backup", "weekdays": ["sun"], "start": "02:00", "end": "04:00",
         "timezone": "Europe/Paris", "match": {"target": "db"}},
        {"name": "patch-day", "cron": "0 3 1 * *", "duration": "2h"},
    ],
}  # fmt: skip


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        AlertsConfig.model_validate(data)
    return str(info.value)


def with_(**changes: Any) -> dict[str, Any]:
    return {**FULL, **changes}


def test_a_full_config_reads_with_its_defaults() -> None:
    config = AlertsConfig.model_validate(FULL)
    run_rate, flaky, streak, slow = config.rules
    assert isinstance(run_rate, RunFailureRate) and isinstance(flaky, WindowFailureRate)
    assert run_rate.threshold == 0.05 and run_rate.repeat_interval == timedelta(hours=24)
    assert flaky.window.last == timedelta(days=7)
    assert config.channels_for(run_rate) == ["log"]  # a warning, by route
    assert config.channels_for(flaky) == ["slack-oncall", "email-team"]
    assert config.channels_for(streak) == ["hook"]  # its own channels win
    assert isinstance(slow, DurationRegression) and (slow.factor, slow.baseline_runs) == (2.0, 7)
    email = config.channels["email-team"]
    assert isinstance(email, EmailChannel) and email.from_ == "vigil@example.org"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"rules": [{"id": "x", "kind": "run_failure_rate", "treshold": 0.1}]}, "treshold"),
        ({"rules": [{"id": "x", "kind": "page_me"}]}, "run_failure_rate"),
        ({"routes": {"critical": ["pager"]}}, "routes.critical[0]: unknown channel 'pager'"),
        ({"rules": [{"id": "x", "kind": "run_failure_rate", "channels": ["pager"]}]},
         "rules[0].channels[0]: unknown channel 'pager'"),
        ({"rules": [{"id": "x", "kind": "run_failure_rate"}] * 2},
         "rules[1].id: duplicate rule id 'x'"),
        ({"rules": [{"id": "x", "kind": "window_failure_rate", "window": {}}]},
         "last_runs (e.g. 10) and/or last"),
        ({"rules": [{"id": "x", "kind": "window_failure_rate", "window": {"last_runs": 500}}]},
         "beyond alerts.history_runs (200)"),
        ({"rules": [{"id": "x", "kind": "duration_regression", "min_runs": 9}]},
         "min_runs (9) cannot exceed baseline_runs (7)"),
        ({"rules": [{"id": "x", "kind": "run_failure_rate", "repeat_interval": "soon"}]},
         "cannot read duration 'soon'"),
        ({"rules": [{"id": "x", "kind": "run_failure_rate", "threshold": 1.5}]}, "threshold"),
        ({"rules": [{"id": "Bad Id", "kind": "run_failure_rate"}]}, "id"),
    ],
)  # fmt: skip
def test_rule_problems_name_the_field(change: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_(**change))


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ({"kind": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x"},
         "slack webhook_url is a secret"),
        ({"kind": "slack", "webhook_url": "${URL:-https://hooks.slack.com/x}"}, "no ':-default'"),
        ({"kind": "slack"}, "exactly one of webhook_url or conn_id"),
        ({"kind": "webhook", "url": "https://x.org", "secret": "hunter2"},
         "webhook secret is a secret"),
        ({"kind": "webhook", "url": "https://x.org", "headers": {"Authorization": "Bearer abc"}},
         "literal secret"),
        ({"kind": "webhook", "url": "ftp://x.org"}, "not an http(s) URL"),
        ({"kind": "email", "conn_id": "smtp", "to": []}, "at least 1 item"),
        ({"kind": "email", "conn_id": "smtp", "to": ["not-an-address"]}, "to.0"),
        ({"kind": "log", "level": "loud"}, "level"),
    ],
)  # fmt: skip
def test_channel_problems_name_the_field(channel: dict[str, Any], expected: str) -> None:
    data = with_(channels={**FULL["channels"], "new": channel})
    assert expected in problems(data)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"weekdays": ["sun"], "start": "02:00"}, "weekdays + start + end"),
        ({"cron": "0 3 * * *"}, "give a duration"),
        ({"cron": "0 3 * * *", "duration": "2h", "weekdays": ["mon"]}, "no weekdays"),
        ({"cron": "0 3 L * *", "duration": "2h"}, "not supported in maintenance windows"),
        ({"cron": "0 3 * *", "duration": "2h"}, "has 4 fields"),
        ({"cron": "0 3 * * *", "duration": "8d"}, "at most 7d"),
        ({"weekdays": ["sun"], "start": "02:00", "end": "03:00", "timezone": "Mars/Olympus"},
         "unknown timezone"),
        ({"weekdays": ["sun"], "start": "02:00", "end": "03:00", "match": {"host": "db"}},
         "cannot match on 'host'"),
        ({"weekdays": ["sun"], "start": "02:00", "end": "03:00+02:00"},
         'write end as a quoted "HH:MM" string'),
        ({"weekdays": ["sun"], "start": time(2, 0, tzinfo=UTC), "end": "03:00"},
         'write start as a quoted "HH:MM" string'),
    ],
)  # fmt: skip
def test_maintenance_window_problems(window: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_(silences=[{"name": "w", **window}]))


def test_an_unquoted_window_time_is_refused_not_misread() -> None:
    # YAML 1.1 reads 22:00 as the base-60 integer 1320; pydantic would make that 00:22 UTC.
    silences = yaml.safe_load("[{name: nightly, weekdays: [mon], start: 22:00, end: '23:30'}]")
    assert silences[0]["start"] == 1320
    said = problems(with_(silences=silences))
    assert 'write start as a quoted "HH:MM" string' in said
    assert "unquoted 22:00 as the number 1320" in said
    window = AlertsConfig.model_validate(FULL).silences[0]
    assert (window.start, window.end) == (time(2, 0), time(4, 0))


def test_a_literal_slack_url_is_masked_in_spec_errors(tmp_path: Path) -> None:
    token = "T0AAAA/B0BBBB/SuperSecretToken123"
    path = tmp_path / "slack.yaml"
    path.write_text(
        "environment: demo\ntargets:\n  db: {kind: postgres, conn_id: x}\nalerts:\n"
        "  channels:\n    oncall:\n      kind: slack\n"
        f"      webhook_url: https://hooks.slack.com/services/{token}\n"
        "  routes: {critical: [oncall]}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert "slack webhook_url is a secret" in text and "webhook_url: ***" in text
    assert "SuperSecretToken123" not in text
    assert all("SuperSecret" not in repr(p) for p in info.value.problems)


def test_every_channel_kind_in_the_config_has_a_sender() -> None:
    union = typing.get_args(typing.get_args(AlertsConfig.model_fields["channels"].annotation)[1])
    kinds = {
        typing.get_args(m.model_fields["kind"].annotation)[0] for m in typing.get_args(union[0])
    }
    assert kinds == set(CHANNEL_KINDS) == set(SENDERS)
    config = AlertsConfig.model_validate(FULL)
    resolver = Resolver(
        environ={"SLACK_ONCALL_URL": "https://hooks.slack.com/services/T/B/x",
                 "VIGIL_HOOK_SECRET": "s3cret-value"},
        connection=lambda cid: ConnectionInfo(cid, "smtp", "127.0.0.1", 25),
    )  # fmt: skip
    for name, channel in config.channels.items():
        sender = SENDERS[channel.kind](name, channel, resolver)
        assert sender.validate(channel) == [], name


def test_every_rule_kind_has_an_evaluator_and_every_subject_a_signal() -> None:
    models = [m for m in EVALUATORS if issubclass(m, BaseModel)]
    assert {typing.get_args(m.model_fields["kind"].annotation)[0] for m in models} == set(
        RULE_KINDS
    )
    subjects = typing.get_args(DurationRegression.model_fields["subject"].annotation)
    assert set(subjects) == set(SIGNALS)


def test_a_channel_whose_references_do_not_resolve_says_which() -> None:
    config = AlertsConfig.model_validate(FULL)
    empty = Resolver(environ={}, connection=lambda cid: ConnectionInfo(cid))
    found = {
        name: SENDERS[ch.kind](name, ch, empty).validate(ch) for name, ch in config.channels.items()
    }
    assert found["slack-oncall"] == [
        "channel 'slack-oncall' (slack): environment variable SLACK_ONCALL_URL is not set"
    ]
    assert found["email-team"] == [
        "channel 'email-team' (email): connection 'smtp_default' has no host"
    ]
    assert found["hook"] == [
        "channel 'hook' (webhook): environment variable VIGIL_HOOK_SECRET is not set"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("90m", 5400), ("1h30m", 5400), ("7d", 604800), ("2w", 1209600),
     (3600, 3600), ("1.5h", 5400)],
)  # fmt: skip
def test_durations(text: Any, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "h", "10", "1x", "-1h", 0, True])
def test_bad_durations(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration() -> None:
    assert format_duration(timedelta(days=1, hours=2, minutes=3)) == "1d2h3m"


def test_reading_the_config_loads_no_network_or_database_code() -> None:
    # The spec loads AlertsConfig while Airflow parses DAG files, every few seconds.
    code = (
        "import sys; from vigil.spec.alerts import AlertsConfig; "
        "print(sorted(m for m in ('requests', 'psycopg2', 'smtplib', 'vigil.results.store') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr
