"""The fakes answer as the real APIs do (shapes checked against ../shared/specs on every call):
here every method the issue lists, and the documented errors, through the real SDK clients."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import ApiError, FakeTelegram
from tests.support import AsgiServer

TOKEN = "7000000001:AAtest-token"


async def test_telegram_fake_speaks_the_bot_api() -> None:
    fake = FakeTelegram(TOKEN)
    fake.user(42, "Alice")
    fake.forum(-100123, "Cellules de crise")
    async with AsgiServer(fake.app) as api:
        bot = Bot(TOKEN, base_url=f"{api.url}/bot")
        async with bot:
            me = await bot.get_me()
            assert me.username == "vigie_pfr_bot"
            keyboard = InlineKeyboardMarkup(
                [[InlineKeyboardButton("Je prends", callback_data="ack:PFR-2026-000001")]]
            )
            sent = await bot.send_message(42, "Page", reply_markup=keyboard)
            edited = await bot.edit_message_text("Page\n✅ pris", chat_id=42, message_id=sent.message_id)
            assert edited.text == "Page\n✅ pris"
            await bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id, reply_markup=None)
            assert await bot.send_chat_action(42, "typing")
            topic = await bot.create_forum_topic(-100123, "PFR-2026-000001 crise")
            assert topic.name == "PFR-2026-000001 crise"
            assert await bot.set_webhook("https://vigie.example/telegram/webhook", secret_token="s")
            assert (await bot.get_webhook_info()).url == "https://vigie.example/telegram/webhook"
            assert await bot.delete_webhook()
            await fake.send_text(42, "bonjour")
            [update] = await bot.get_updates(timeout=1)
            assert update.message.text == "bonjour"
            assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
            await fake.press(42, fake.messages[(42, sent.message_id)], "ack:PFR-2026-000001")
            [press] = await bot.get_updates(offset=update.update_id + 1, timeout=1)
            assert await bot.answer_callback_query(press.callback_query.id, text="ok")

            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await bot.send_message(999, "x")
            fake.blocked.add(42)
            with pytest.raises(Forbidden, match=r"(?i)blocked by the user"):
                await bot.send_message(42, "x")
            fake.blocked.clear()
            fake.failures["sendMessage"] = [ApiError(429, "Too Many Requests: retry after 7", retry_after=7)]
            with pytest.raises(RetryAfter):
                await bot.send_message(42, "x")
    methods = {c.method for c in fake.calls}
    assert {
        "getMe",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "answerCallbackQuery",
        "createForumTopic",
        "sendChatAction",
    } <= methods


async def test_slack_fake_speaks_the_web_api() -> None:
    fake = FakeSlack("xoxb-t", "secret")
    fake.user("U0ALICE01", "alice", "alice@example.org")
    async with AsgiServer(fake.app) as api:
        client = AsyncWebClient(token="xoxb-t", base_url=f"{api.url}/api/")
        assert (await client.auth_test())["bot_id"] == "BVIGIE01"
        dm = (await client.conversations_open(users="U0ALICE01"))["channel"]["id"]
        posted = await client.chat_postMessage(
            channel=dm,
            text="Page",
            blocks=[{"type": "section", "text": {"type": "plain_text", "text": "Page"}}],
        )
        updated = await client.chat_update(channel=dm, ts=posted["ts"], text="Page ✅")
        assert updated["text"] == "Page ✅"
        room = (await client.conversations_create(name="crise-pfr-2026-000001"))["channel"]
        await client.conversations_invite(channel=room["id"], users="U0ALICE01")
        topic = await client.conversations_setTopic(channel=room["id"], topic="Cellule de crise")
        assert topic["channel"]["topic"]["value"] == "Cellule de crise"
        assert (await client.users_info(user="U0ALICE01"))["user"]["name"] == "alice"
        assert (await client.users_lookupByEmail(email="alice@example.org"))["user"]["id"] == "U0ALICE01"

        with pytest.raises(SlackApiError) as taken:
            await client.conversations_create(name="crise-pfr-2026-000001")
        assert taken.value.response["error"] == "name_taken"
        fake.ratelimit["chat.postMessage"] = 3
        with pytest.raises(SlackApiError) as limited:
            await client.chat_postMessage(channel=dm, text="x")
        assert limited.value.response.status_code == 429
        assert limited.value.response["error"] == "ratelimited"
        with pytest.raises(SlackApiError) as bad_auth:
            await AsyncWebClient(token="xoxb-wrong", base_url=f"{api.url}/api/").auth_test()
        assert bad_auth.value.response["error"] == "invalid_auth"
