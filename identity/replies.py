"""What a sender is told about linking (kept apart so the texts are easy to find and change)."""

from __future__ import annotations

from channels.capabilities import capabilities
from identity.store import Redemption

NOT_ALLOWED = "Sorry, this assistant isn't available to you yet."
SHARED_SENDER = (
    "You're writing as a group or a channel, an identity others share, so it can't be linked. "
    "Send the code from your own account instead, in a private chat with me."
)


def _command(channel: str, name: str, arg: str = "") -> str:
    return capabilities(channel).command(name, arg)


def how_to_link(channel: str) -> str:
    caps = capabilities(channel)
    what = "this number" if caps.phone_addresses else caps.name
    return (
        "To chat with this assistant, link your account first: in the app, choose to connect "
        f"{what} and send the code it shows you here, like: {caps.command('LINK', 'ABCD-EFGH')}"
    )


def redemption(result: Redemption, channel: str) -> str:
    if result.app_user_id is not None:
        return (
            "Your account is linked. You can chat with the assistant now. "
            f"(Send {_command(channel, 'UNLINK')} to undo.)"
        )
    if result.reason == "throttled":
        minutes = max(
            1, round((result.retry_after.total_seconds() if result.retry_after else 900) / 60)
        )
        return f"Too many wrong codes. Please try again in {minutes} minutes."
    if result.reason == "expired":
        return "That code has expired. Get a new one in the app and send it here."
    if result.reason == "used":
        return "That code was already used. Get a new one in the app and send it here."
    return "That code isn't valid. Check it and try again, or get a new one in the app."


def unlinked(removed: bool, channel: str) -> str:
    if removed:
        return "This chat is no longer linked to your account."
    return (
        f"This chat isn't linked to an account. ({_command(channel, 'LINK', '<code>')} links it.)"
    )
