"""OpenAI's signed webhooks (fine_tuning.job.*): completion is seen at once, polling stays
as the fallback. Signatures are verified by the SDK with OPENAI_WEBHOOK_SECRET."""

from __future__ import annotations

import logging
from typing import Any

from commands.services import Services
from storage.events import claim_event

log = logging.getLogger(__name__)


class Webhooks:
    def __init__(self, services: Services, secret: str) -> None:
        self.services = services
        self.secret = secret
        # Verification is local (HMAC); the client never calls the API here. The SDK is
        # imported here, only when webhooks are configured: it is most of a bare bot's
        # start-up time otherwise (about 0.8 s of imports).
        import openai

        self.client = openai.OpenAI(api_key="unused-for-webhooks", webhook_secret=secret)

    def verify(self, body: bytes, headers: dict[str, str]) -> Any | None:
        """The parsed event when the signature is valid and fresh, else None."""
        try:
            return self.client.webhooks.unwrap(body, headers)
        except Exception as exc:  # InvalidWebhookSignatureError, bad JSON, stale timestamp
            log.warning("rejected an OpenAI webhook: %s", type(exc).__name__)
            return None

    async def first_delivery(self, webhook_id: str) -> bool:
        """Remember a verified delivery's webhook-id durably; False when seen before.

        The signature covers the id, so a captured request replayed within the SDK's
        5-minute tolerance carries the same id and is refused here, across restarts
        and processes (the handled-events table Slack redeliveries use)."""
        if not webhook_id:
            return False  # signed deliveries always carry one; refuse what cannot be checked
        return await self.services.db.run(claim_event, event_id=f"openai-webhook:{webhook_id}")

    async def handle(self, event: Any) -> None:
        kind = str(getattr(event, "type", ""))
        if not kind.startswith("fine_tuning.job."):
            return
        provider_job_id = str(getattr(getattr(event, "data", None), "id", ""))
        from commands.finetune.jobs import poll_by_provider_id

        self.services.tasks.spawn(
            poll_by_provider_id(self.services, provider_job_id), name=f"webhook-{provider_job_id}"
        )
