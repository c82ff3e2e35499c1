"""POST /hooks/<provider>: a forge's webhook delivery, verified, then stored durably in the
inbox before the 202 answer (the dispatcher runs what it triggers). A flask-free route
(webhooks/ingress/httpapi.py); webhooks/app.py binds it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from runner.forges.event import Ignored
from webhooks.ingress.httpapi import Call, Reply, Route, error
from webhooks.ingress.inbox import Inbox, InboxUnavailableError
from webhooks.ingress.receive import SecretCandidates, SecretLookup, receive

log = logging.getLogger("gitflows")  # the flask app's logger (its name)
HOOK = "hook"  # the endpoint: webhooks/app.py names its own body limit in a 413


def routes(inbox: Inbox, secret_for: SecretLookup, candidates: SecretCandidates,
           wake: Callable[[], None], max_delivery: int) -> list[Route]:
    def hook(call: Call) -> Reply:
        provider = call.params["provider"]
        body = call.request.data(limit=max_delivery, cache=False)
        try:
            reception = receive(provider, call.sent_headers, body, inbox, secret_for, candidates)
        except InboxUnavailableError as err:
            log.error("webhook inbox unavailable: %s", err)
            return error(503, "inbox busy, retry later")
        if reception.status != 202 or isinstance(reception.event, Ignored):
            log.info("webhook %s: %s %s", provider, reception.status, reception.detail)
        if reception.status == 202:
            wake()
        return Reply(reception.status, reception.body())

    return [Route("POST", "/hooks/<provider>", HOOK, hook)]
