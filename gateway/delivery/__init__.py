"""Delivery: the outbox sender (paced provider sends, retries, dead letters), delivery statuses
reported by providers, and proactive messages from the app."""
