"""Links to photos that expire: a photo is served only with a signature of its id and an expiry made with the
signing key, so a console can show it in an <img> on another service's page without a cookie, and a copied link
stops working after `ttl` seconds."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from gridloop.auth.tokens import TokenIssuer

PHOTO_LINK_SECONDS = 3600


def photo_id_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def signed_photo_url(issuer: TokenIssuer, url: str, *, now: float, ttl: int = PHOTO_LINK_SECONDS) -> str:
    expires = int(now) + ttl
    return f"{url}?exp={expires}&sig={issuer.mac('photo', f'{photo_id_of(url)}:{expires}')}"


def photo_link_valid(issuer: TokenIssuer, photo_id: str, *, expires: int, signature: str, now: float) -> bool:
    if now >= expires:
        return False
    return hmac.compare_digest(signature, issuer.mac("photo", f"{photo_id}:{expires}"))
