"""A stand-in for the chat services' incoming webhooks (Slack, Microsoft Teams Workflows,
Discord, Google Chat) and Telegram's Bot API sendMessage, on 127.0.0.1. Each route checks
the body against the service's documented shape and answers as the service does."""

from __future__ import annotations

import re
from typing import Any

from tests.standins.server import Answer, StandIn

TELEGRAM_TOKEN = "6090305634:AAH-s3cretBotTokenForTheStandIn_xyz12"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
DISCORD_KEYS = {"content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "components",
                "attachments", "flags", "thread_name", "poll"}
TELEGRAM_PARSE_MODES = {"HTML", "Markdown", "MarkdownV2"}


def _text(body: dict[str, Any], key: str, limit: int) -> list[str]:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        return [f"{key} must be a non-empty string"]
    return [f"{key} is {len(value)} characters, more than {limit}"] if len(value) > limit else []


def _slack(body: dict[str, Any]) -> list[str]:
    return [] if "blocks" in body or "attachments" in body else _text(body, "text", 40000)


def _teams(body: dict[str, Any]) -> list[str]:
    if body.get("type") != "message" or not isinstance(body.get("attachments"), list):
        return ["a Teams workflow message is {type: message, attachments: [...]}"]
    errors = []
    for item in body["attachments"]:
        card = item.get("content") if isinstance(item, dict) else None
        if item.get("contentType") != "application/vnd.microsoft.card.adaptive" or \
                not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or \
                not isinstance(card.get("body"), list) or not card.get("version"):
            errors.append(f"not an Adaptive Card attachment: {item!r:.200}")
    return errors or ([] if body["attachments"] else ["attachments is empty"])


def _discord(body: dict[str, Any]) -> list[str]:
    errors = [f"unknown field {k}" for k in sorted(set(body) - DISCORD_KEYS)]
    if not any(body.get(k) for k in ("content", "embeds", "components", "poll")):
        return [*errors, "Cannot send an empty message (content, embeds, components or poll)"]
    return errors + (_text(body, "content", 2000) if "content" in body else [])


def _google_chat(body: dict[str, Any]) -> list[str]:
    return [] if "cardsV2" in body else _text(body, "text", 4096)


def _telegram(body: dict[str, Any]) -> list[str]:
    errors = _text(body, "text", 4096)
    if not isinstance(body.get("chat_id"), (int, str)) or body.get("chat_id") in ("", None):
        errors.append("chat_id is required (an integer or @channelusername)")
    if "parse_mode" in body and body["parse_mode"] not in TELEGRAM_PARSE_MODES:
        errors.append(f"parse_mode {body['parse_mode']!r} is not one of {sorted(TELEGRAM_PARSE_MODES)}")
    return errors


ROUTES = {"slack": (re.compile(r"/services/[^/]+/[^/]+/[^/]+"), _slack),
          "teams": (re.compile(r"/workflows/[^/]+/triggers/manual/paths/invoke"), _teams),
          "discord": (re.compile(r"/api/webhooks/\d+/[^/]+"), _discord),
          "google_chat": (re.compile(r"/v1/spaces/[^/]+/messages"), _google_chat),
          "telegram": (re.compile(r"/bot(?P<token>[^/]+)/sendMessage"), _telegram)}


class ChatStandIn(StandIn):
    """Paths: url_for(service) gives a webhook URL of that service's documented form."""

    def url_for(self, service: str) -> str:
        return self.url + {"slack": "/services/T0/B0/XXXX",
                           "teams": "/workflows/abc123/triggers/manual/paths/invoke",
                           "discord": "/api/webhooks/1234567890/tok-en",
                           "google_chat": "/v1/spaces/AAAA/messages",
                           "telegram": ""}[service]

    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        for service, (pattern, validate) in ROUTES.items():
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != "POST":
                return [f"{method} is not allowed"], service, {}
            if service == "telegram" and match["token"] != TELEGRAM_TOKEN:
                shape = "" if _TOKEN_SHAPE.fullmatch(match["token"]) else " (not a bot token)"
                return [f"auth: Unauthorized{shape}"], service, {}
            if not isinstance(body, dict):
                return ["the body must be a JSON object"], service, {}
            return validate(body), service, {}
        return [f"no such route {path}"], None, {}

    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        if operation == "telegram":
            return Answer(200, {"ok": True, "result": {"message_id": len(self.requests) + 1,
                                                        "chat": {"id": body["chat_id"]},
                                                        "text": body["text"]}})
        if operation == "discord":
            return Answer(204)
        if operation == "teams":
            return Answer(202)
        return Answer(200, {"name": "spaces/AAAA/messages/1"} if operation == "google_chat" else "ok")

    def bodies(self, service: str) -> list[Any]:
        return [r.body for r in self.requests if r.operation == service]
