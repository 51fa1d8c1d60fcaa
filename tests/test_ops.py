"""Health and metrics endpoints."""

from __future__ import annotations

import pytest

from tests.support import AUTH, running_vigie


async def test_healthz_reports_the_database(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.get("/healthz")
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "ok",
            "database": "postgresql" if "postgres" in db_url else "sqlite",
            "channels": {},
        }


async def test_metrics_count_signals_by_source_and_time_intake(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        for _ in range(3):
            await client.post("/api/v1/signals", headers=AUTH, json={"title": "x", "dedup_key": "k"})
        await client.post("/api/v1/signals", headers=AUTH, json={"title": "y"})
        await client.post("/api/v1/signals", headers=AUTH, json={"title": "essai", "exercise": True})
        text = (await client.get("/metrics")).text
    # An exercise counts apart: the real figures are those of the four real requests.
    assert 'vigie_signals_received_total{exercise="false",outcome="new",source="http"} 2.0' in text
    assert 'vigie_signals_received_total{exercise="false",outcome="duplicate",source="http"} 2.0' in text
    assert 'vigie_signals_received_total{exercise="true",outcome="new",source="http"} 1.0' in text
    assert 'vigie_intake_latency_seconds_count{source="http"} 5.0' in text


async def test_every_error_has_the_one_shape_in_the_desks_language(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        unknown = await client.get("/api/v1/nulle-part", headers=AUTH)
        assert unknown.status_code == 404
        assert unknown.json() == {
            "error": "not_found",
            "message": "Adresse inconnue : /api/v1/nulle-part. Voir /docs.",
        }
        wrong_method = await client.put("/api/v1/signals", headers=AUTH)
        assert wrong_method.status_code == 405
        assert wrong_method.json() == {
            "error": "method_not_allowed",
            "message": "Méthode PUT non autorisée sur /api/v1/signals.",
        }
        bad_date = await client.get("/api/v1/outbox", params={"since": "hier"}, headers=AUTH)
        assert bad_date.status_code == 422
        assert bad_date.json()["fields"] == [
            {
                "field": "query.since",
                "message": "doit être une date et heure ISO 8601 (exemple : 2026-03-29T02:30:00+01:00)",
            }
        ]
        home = await client.get("/")
        assert home.status_code == 200 and "text/html" in home.headers["content-type"]
        assert "href='/docs'" in home.text and "PFR test" in home.text


def test_de_and_le_elide_before_a_vowel_but_never_inside_what_people_wrote() -> None:
    from bot.texts import t

    assert t("event.step", "fr", step=1, steps=3, pass_note="", names="Alice Martin (titulaire)") == (
        "Étape 1/3 : appel d'Alice Martin (titulaire)"
    )
    assert t("event.step", "fr", step=1, steps=3, pass_note="", names="Bruno Petit") == (
        "Étape 1/3 : appel de Bruno Petit"
    )
    assert t("event.step", "en", step=1, steps=3, pass_note="", names="Alice Martin") == (
        "Step 1/3: paging Alice Martin"
    )
    # A title is someone's text: « de Ebola » stays as written.
    assert "« Cas de Ebola »" in t(
        "notice.acknowledged", "fr", name="Émilie", time="03:12", reference="PFR-1", title="Cas de Ebola"
    )


def test_log_lines_carry_tracebacks_and_never_a_secret(monkeypatch, capsys) -> None:
    import logging

    import structlog

    from bot.logging_setup import configure_logging

    monkeypatch.setenv("VIGIE_TELEGRAM_TOKEN", "123456:AAsecret-telegram-token")
    monkeypatch.setenv("VIGIE_LINK_SECRET", "a-long-link-secret")
    configure_logging("DEBUG", "json")
    try:
        raise RuntimeError("boom with a-long-link-secret inside")
    except RuntimeError:
        structlog.get_logger("vigie.test").exception("delivery_crashed")
    logging.getLogger("httpx").info("HTTP Request: POST http://x/bot987654:AAother-token-value/getMe")
    err = capsys.readouterr().err
    assert '"exception": "Traceback (most recent call last):' in err  # diagnosable at night
    assert "RuntimeError: boom with [secret] inside" in err
    assert "/bot[secret]/getMe" in err
    assert "a-long-link-secret" not in err and "AAother-token-value" not in err
    configure_logging("WARNING", "console")


@pytest.mark.parametrize(
    ("path", "param"),
    [("/api/v1/outbox", "since"), ("/api/v1/outbox", "until"), ("/api/v1/oncall", "at")],
)
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01"])
async def test_dates_out_of_range_are_a_422_not_a_crash(
    db_url: str, path: str, param: str, value: str
) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.get(path, params={param: value}, headers=AUTH)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] in ("invalid_query", "invalid_request")


async def test_metrics_and_docs_are_open_by_default_and_can_be_closed_or_put_behind_a_token(
    db_url: str,
) -> None:
    from tests.support import make_config

    async with running_vigie(db_url) as server, server.client() as client:
        assert (await client.get("/metrics")).status_code == 200  # Prometheus' convention
        assert (await client.get("/openapi.json")).status_code == 200
    behind = make_config(http={"metrics": "token", "docs": "token"})
    async with running_vigie(db_url, config=behind) as server, server.client() as client:
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert (await client.get(path)).status_code == 401, path
            assert (await client.get(path, headers=AUTH)).status_code == 200, path
    closed = make_config(http={"metrics": "off", "docs": "off"})
    async with running_vigie(db_url, config=closed) as server, server.client() as client:
        for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
            answer = await client.get(path, headers=AUTH)
            assert answer.status_code == 404 and answer.json()["error"] == "not_found", path
