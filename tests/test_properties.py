"""Hostile input, generated (issue 13, defect 4): every inbound route of the real ``vigie serve``,
every channel on against the fakes, on PostgreSQL (the stricter store: it refuses NUL), answers
anything with a 4xx or a success, never a 5xx. Webhook bodies are signed with the real secrets,
so that the generated input reaches the parsing behind the signature check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.realdesk import (
    ALICE,
    DESK_NUMBER,
    SLACK_SIGNING,
    TG_WEBHOOK_SECRET,
    TWILIO_TOKEN,
    RealDesk,
    providers,
    real_desk,
)
from tests.support import AUTH, TOKEN, pg_available, throwaway_database

pytestmark = pytest.mark.asyncio(loop_scope="module")

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same inputs on every run: a failure here is reproducible
)

# Texts with what breaks stores and parsers: NUL and control characters, bidi overrides,
# surrogates excluded (they cannot be sent as UTF-8 at all).
texts = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Z", "Cc", "Cf")), max_size=60
) | st.sampled_from(["", "\x00", "PFR-2026-000001", "9" * 5000, "1e999", "NaN", "<script>", "../../etc"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def dict_with(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Documents shaped like the route's own, each known field holding anything."""
    return st.fixed_dictionaries({}, optional={key: json_values for key in keys})


def bodies(keys: list[str]) -> st.SearchStrategy[bytes]:
    documents = dict_with(keys) | json_values
    return (
        documents.map(lambda d: json.dumps(d).encode())
        | st.binary(max_size=200)
        | st.sampled_from(
            [b"", b"{", b"[]", b"null", b'"x"', b"[" * 5000 + b"]" * 5000, b'{"title": "\\u0000"}']
        )
    )


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RealDesk]:
    if not await pg_available():
        pytest.fail("PostgreSQL unreachable on 127.0.0.1:5432 (the property tests run on it)")
    tmp = tmp_path_factory.mktemp("properties")
    async with (
        throwaway_database("postgresql", tmp) as url,
        providers() as fakes,
        real_desk(url, tmp, fakes, telegram_mode="webhook", log_level="WARNING") as running,
    ):
        yield running
        # Whatever came in, the service is still up and still takes a real signal.
        assert (await running.http.get("/healthz")).status_code == 200
        await running.signal("Après le tir de barrage", "via-console")


def refused_clearly(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text[:500])
    if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        detail = answer.json()
        assert detail.get("message") or detail.get("error"), detail


@given(
    body=bodies(["title", "body", "severity", "category", "source", "dedup_key", "occurred_at", "attributes"])
)
@example(body=nested(5000))
@example(body=b'{"title": "x", "severity": NaN}')
@example(body=b'{"title": "\\u0000"}')
@FUZZ
async def test_signals_intake(desk: RealDesk, body: bytes) -> None:
    answer = await desk.http.post(
        "/api/v1/signals", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    refused_clearly(answer)


@given(
    body=bodies(["version", "groupKey", "status", "receiver", "alerts", "commonLabels", "commonAnnotations"])
    | st.builds(
        lambda alerts: json.dumps(
            {"version": "4", "groupKey": "g", "status": "firing", "alerts": alerts}
        ).encode(),
        st.lists(
            dict_with(["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"]), max_size=3
        ),
    )
)
@FUZZ
async def test_alertmanager(desk: RealDesk, body: bytes) -> None:
    answer = await desk.http.post(
        "/api/v1/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    refused_clearly(answer)


@given(
    action=st.sampled_from(["ack", "escalate", "resolve"]),
    reference=texts.filter(lambda r: r not in ("", "..", ".")),
    body=bodies(["person", "note"]),
)
@example(action="resolve", reference="PFR-2026-000001\x00", body=b'{"person": "alice"}')
@FUZZ
async def test_paging_actions(desk: RealDesk, action: str, reference: str, body: bytes) -> None:
    path = f"/api/v1/signals/{urllib.parse.quote(reference, safe='')}/{action}"
    answer = await desk.http.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    refused_clearly(answer)


@given(
    path=st.sampled_from(
        [
            "/api/v1/signals",
            "/api/v1/outbox",
            "/api/v1/oncall",
            "/api/v1/signals/{x}",
            "/api/v1/rosters/{x}.ics",
        ]
    ),
    x=texts,
    query=st.dictionaries(
        st.sampled_from(
            [
                "status",
                "state",
                "limit",
                "recipient",
                "channel",
                "kind",
                "signal",
                "since",
                "until",
                "at",
                "roster",
                "weeks",
            ]
        ),
        texts | st.sampled_from(["99999-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "-1", "1e9"]),
        max_size=4,
    ),
)
@example(path="/api/v1/outbox", x="", query={"recipient": "\x00", "since": "9999-12-31T23:59:59-23:59"})
@example(path="/api/v1/signals/{x}", x="PFR\x00", query={})
@FUZZ
async def test_reads(desk: RealDesk, path: str, x: str, query: dict[str, str]) -> None:
    url = path.replace("{x}", urllib.parse.quote(x, safe="") or "x")
    refused_clearly(await desk.http.get(url, params=query, headers=AUTH))


@given(token=texts, garbage=st.binary(max_size=40))
@FUZZ
async def test_calendar_feeds_and_mail_links(desk: RealDesk, token: str, garbage: bytes) -> None:
    quoted = urllib.parse.quote(token, safe="") or "x"
    refused_clearly(await desk.http.get(f"/ical/{quoted}.ics"))
    refused_clearly(await desk.http.get(f"/links/{quoted}"))
    refused_clearly(await desk.http.post(f"/links/{quoted}", content=garbage))


@given(
    body=bodies(["update_id", "message", "callback_query", "edited_message"])
    | st.builds(
        lambda uid, message: json.dumps({"update_id": uid, "message": message}).encode(),
        st.integers(),
        dict_with(["message_id", "from", "chat", "date", "text", "reply_to_message"]),
    )
    | st.builds(
        lambda data, sender: json.dumps(
            {
                "update_id": 1,
                "callback_query": {"id": "1", "from": sender, "data": data, "chat_instance": "1"},
            }
        ).encode(),
        json_values,
        st.fixed_dictionaries({"id": st.just(ALICE["tg"]), "is_bot": st.just(False), "first_name": texts}),
    )
)
@FUZZ
async def test_telegram_webhook(desk: RealDesk, body: bytes) -> None:
    answer = await desk.http.post(
        "/telegram/webhook",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_WEBHOOK_SECRET, "Content-Type": "application/json"},
    )
    refused_clearly(answer)


def slack_signed(body: bytes) -> dict[str, str]:
    """Signed as Slack signs (v0 HMAC-SHA256), bytes and all: non-UTF-8 bodies too."""
    ts = str(int(time.time()))
    digest = hmac.new(SLACK_SIGNING.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


@given(
    body=bodies(["type", "event", "challenge", "token", "team_id"])
    | st.builds(lambda payload: b"payload=" + urllib.parse.quote(payload).encode(), texts)
    | st.builds(
        lambda doc: b"payload=" + urllib.parse.quote(json.dumps(doc)).encode(),
        dict_with(["type", "user", "actions", "message", "channel", "container"]),
    )
    | st.builds(
        lambda form: urllib.parse.urlencode(form).encode(),
        st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "trigger_id"]), texts),
    ),
    form=st.booleans(),
)
@example(body=b"{", form=False)
@example(body=b"payload=%7B", form=True)
@example(body=b"payload=garbage", form=True)
@FUZZ
async def test_slack_events(desk: RealDesk, body: bytes, form: bool) -> None:
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    answer = await desk.http.post(
        "/slack/events", content=body, headers={**slack_signed(body), "Content-Type": kind}
    )
    refused_clearly(answer)


TWILIO_FIELDS = [
    "From",
    "To",
    "Body",
    "MessageSid",
    "MessageStatus",
    "ErrorCode",
    "CallSid",
    "CallStatus",
    "Digits",
    "AnsweredBy",
    "AccountSid",
    "NumMedia",
]


@given(
    path=st.sampled_from(
        [
            "/twilio/sms",
            "/twilio/status",
            "/twilio/call-status",
            "/twilio/voice/{x}",
            "/twilio/voice/{x}/gather",
        ]
    ),
    x=st.sampled_from(["1", "0", "-1", "99999999999999999999", "abc", "1.5"]) | texts,
    params=st.dictionaries(st.sampled_from(TWILIO_FIELDS), texts, max_size=6),
    known_sender=st.booleans(),
)
@example(path="/twilio/sms", x="", params={"Body": "\x00", "From": "+33611111111"}, known_sender=True)
@FUZZ
async def test_twilio_webhooks(
    desk: RealDesk, path: str, x: str, params: dict[str, str], known_sender: bool
) -> None:
    if known_sender:
        params = {**params, "From": str(ALICE["phone"]), "To": DESK_NUMBER}
    url = desk.url + path.replace("{x}", urllib.parse.quote(x, safe="") or "x")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    answer = await desk.http.post(url, data=params, headers={"X-Twilio-Signature": signature})
    refused_clearly(answer)


async def test_nul_in_a_path_or_query_is_a_400_on_postgresql(desk: RealDesk) -> None:
    for url in (
        "/api/v1/signals/PFR-2026-000001%00",
        "/api/v1/outbox?recipient=%00",
        "/api/v1/oncall?roster=a%00b",
        "/api/v1/rosters/p%00.ics",
        "/api/v1/signals?status=%00",
    ):
        answer = await desk.http.get(url, headers=AUTH)
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["message"] == "Adresse invalide : caractère de contrôle interdit."


async def test_schemathesis_finds_no_server_error(desk: RealDesk, tmp_path: Path) -> None:
    """Schemathesis against /openapi.json of the real process: every documented operation,
    examples, coverage and fuzzing phases, with the full-scope token."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{desk.url}/openapi.json",
        "--checks=not_a_server_error",
        "--phases=examples,coverage,fuzzing",
        "--max-examples=50",
        "--generation-deterministic",
        "--workers=1",
        "--no-color",
        "--warnings=off",
        f"--header=Authorization: Bearer {TOKEN}",
        f"--report-dir={tmp_path}",
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    report = out.decode()
    assert proc.returncode == 0, report[-6000:]
    assert "No issues found" in report, report[-3000:]
