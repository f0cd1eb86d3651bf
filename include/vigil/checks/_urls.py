"""Credentials inside a service URL (redis://, mongodb://, ws://), for the run's masker.

A URL is resolved readable (its host and path help whoever reads the result), and only
what in it is a credential is remembered: the user info's password (and a token given as
the user name) and the values of credential query parameters (`?access_token=`,
`tlsCertificateKeyFilePassword=`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from vigil.masking import Masker
from vigil.spec.secret_shapes import is_secret_query


def remember_url_credentials(url: str, masker: Masker) -> None:
    masker.remember_userinfo(url)
    try:
        query = urlsplit(url).query
    except ValueError:  # unparsable: the client refuses it, and says so without its parts
        return
    for name, value in parse_qsl(query):
        if is_secret_query(name, value):
            masker.remember(value)
