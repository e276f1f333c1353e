"""Shared test helpers: databases, the running gateway harness, recorded update builders."""
