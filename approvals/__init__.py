"""Approvals: the state machine (pending -> approved | denied | expired, decided once), the
prompts that ask for a decision on each channel, expiry, and signed lifecycle webhooks."""
