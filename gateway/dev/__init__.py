"""Test doubles (fake Telegram Bot API) shared by tests and demos."""
