"""The Graph API version WhatsApp Cloud API calls use unless an account names its own
(`api_version`).

Meta keeps each version about two years and publishes the day it stops answering
(https://developers.facebook.com/docs/graph-api/changelog/versions/). `API_VERSION_EXPIRES` is
that published date: `tests/channels/test_whatsapp_version.py` fails from 60 days before it, time
to move to a newer version (one with a published expiry date) and re-run the WhatsApp tests.
"""

from __future__ import annotations

from datetime import date

API_VERSION = "v25.0"
"""Released 2026-02-18: the newest version with a published expiry (v26.0's is not out yet)."""
API_VERSION_EXPIRES = date(2028, 7, 29)
"""v25.0's published "available until" date."""
