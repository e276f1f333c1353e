"""Messaging channel gateway."""
