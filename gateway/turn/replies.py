"""What the gateway itself says in a chat during a turn (kept together to find and change)."""

from __future__ import annotations

NO_TEXT_REPLY = "I can't read this kind of message yet."
"""A message with neither text nor an attachment the channel receives (a poll, a dice roll)."""
BUSY_REPLY = "I'm getting a lot of messages right now. I'll answer in about {seconds} seconds."
"""Sent at most once per message, while it waits out the core's 429 (only for long waits)."""
EMPTY_REPLY = "I have no answer to that this time. Please try again or ask it another way."
"""The core answered 200 with no text and nothing to approve: say so rather than stay silent."""
QUOTA_REPLY = "This assistant has reached its usage limit for now. Please try again later."
UNAVAILABLE_REPLY = "This assistant isn't available right now. The team has been told."
FAILED_REPLY = "Sorry, something went wrong and I couldn't answer that. (ref {ref})"
"""`ref` is the inbox row id: operators find the event with `gateway trace <ref>`."""
