"""What the gateway itself says in a chat during a turn (kept together to find and change)."""

from __future__ import annotations

NO_TEXT_REPLY = "I can only read text messages for now."
BUSY_REPLY = "I'm getting a lot of messages right now. Please try again in {seconds} seconds."
QUOTA_REPLY = "This assistant has reached its usage limit for now. Please try again later."
UNAVAILABLE_REPLY = "This assistant isn't available right now. The team has been told."
FAILED_REPLY = "Sorry, something went wrong and I couldn't answer that. (ref {ref})"
"""`ref` is the inbox row id: operators find the event with `gateway trace <ref>`."""
