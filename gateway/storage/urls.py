"""The URLs a project or account may be saved with (`gateway.netguard` says why).

The admin API, the CLI and the environment bootstrap all save through `ProjectStore`, which
calls `check_urls` before writing: a refused URL is an `Invalid` (422, or one CLI error line)
and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import Settings
from gateway.errors import Invalid
from gateway.netguard import OPERATOR, RefusedAddress, UrlPolicy, app_policy, check_saved

APP_URLS = frozenset({"approval_webhook_url"})
"""Set by an app team (with a project key too): https:// to a public address."""
OPERATOR_URLS = frozenset(
    {
        "core_base_url",
        "api_base_url",
        "telegram_api_base_url",
        "twilio_api_base_url",
        "whatsapp_api_base_url",
    }
)
"""Set only by an operator: may be private, never link-local or a metadata address."""


def webhook_policy(settings: Settings) -> UrlPolicy:
    """The policy for lifecycle webhook URLs, from GATEWAY_ALLOW_PRIVATE_WEBHOOKS and
    GATEWAY_WEBHOOK_ALLOWED_HOSTS."""
    return app_policy(settings.allow_private_webhooks, settings.webhook_allowed_hosts)


async def check_urls(
    settings: Settings, values: Mapping[str, object], *, unresolved_ok: bool = False
) -> None:
    """Raise `Invalid` naming the field unless every URL among `values` may be saved (other
    fields and empty values are ignored). `unresolved_ok`: at start-up, from the environment."""
    for field, value in values.items():
        if not value or not isinstance(value, str):
            continue
        if field in APP_URLS:
            policy = webhook_policy(settings)
        elif field in OPERATOR_URLS:
            policy = OPERATOR
        else:
            continue
        try:
            await check_saved(value, policy, unresolved_ok=unresolved_ok)
        except RefusedAddress as exc:
            raise Invalid(f"{field}: {exc}") from None
