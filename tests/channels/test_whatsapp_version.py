"""The default Graph API version: current, and a reminder before Meta retires it."""

from __future__ import annotations

import re
from datetime import date, timedelta

from channels import whatsapp_version
from channels.whatsapp_version import API_VERSION, API_VERSION_EXPIRES

WARNING = timedelta(days=60)


def test_the_default_graph_api_version_is_not_about_to_expire() -> None:
    """Fails from 60 days before Meta's published expiry: move `API_VERSION` to a newer version
    (https://developers.facebook.com/docs/graph-api/changelog/versions/) with its date."""
    left = API_VERSION_EXPIRES - date.today()
    assert left > WARNING, (
        f"Graph API {API_VERSION} expires on {API_VERSION_EXPIRES} ({left.days} days left): "
        f"update channels/whatsapp_version.py"
    )


def test_the_version_is_one_constant_of_the_graph_api_form() -> None:
    assert re.fullmatch(r"v\d{1,3}\.\d", API_VERSION)
    # Graph API versions live about two years: a later date is a typo, not a gift.
    assert API_VERSION_EXPIRES - date.today() < timedelta(days=3 * 365)
    assert whatsapp_version.__doc__ and "60 days" in whatsapp_version.__doc__
