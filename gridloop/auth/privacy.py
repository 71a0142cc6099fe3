"""Residents' contact details sealed at rest (Fernet, keys from configuration) and in dead letters.

A sealed contact keeps `channel` and `notify_consent` readable (they decide whether and how to notify) and
encrypts name, phone, e-mail and webhook URL field by field. Rows written before sealing (no `sealed` mark)
are read as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gridloop.auth.settings import AuthSettings
from gridloop.contracts.topics import CASES_REPORTED
from gridloop.delivery.consumer import DLT_SEALED_HEADER

SEALED_FIELDS = ("name", "phone", "email", "webhook_url")
SEALED_MARK = "sealed"
# Set (to when) by the retention job that erased the contact 180 days after its case closed (gridloop/ops/
# retention.py): the sealed fields are null from then on.
ERASED_MARK = "erased_at"
# Topics whose records carry a resident's contact: their dead letters hold it encrypted.
RESIDENT_TOPICS = frozenset({CASES_REPORTED})


class ResidentCipher:
    def __init__(self, keys: list[str], digest_key: str) -> None:
        if not keys:
            raise ValueError("at least one resident key is required")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._digest_key = digest_key.encode()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> ResidentCipher:
        return cls([k.get_secret_value() for k in settings.resident_keys], settings.digest_key.get_secret_value())

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

    def seal(self, resident: dict[str, Any]) -> dict[str, Any]:
        """The contact as stored: sensitive fields encrypted, the rest as given."""
        sealed = {k: (self.encrypt(v) if k in SEALED_FIELDS and isinstance(v, str) else v) for k, v in resident.items()}
        return {**sealed, SEALED_MARK: True}

    def open(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The contact in clear; rows from before sealing come back unchanged."""
        if not stored.get(SEALED_MARK):
            return dict(stored)
        return {
            k: (self.decrypt(v) if k in SEALED_FIELDS and isinstance(v, str) else v)
            for k, v in stored.items()
            if k != SEALED_MARK
        }

    def digest(self, phone: str) -> str:
        """A keyed digest of a phone number, to find a resident's case without storing the number in clear."""
        return hmac.new(self._digest_key, phone.encode(), hashlib.sha256).hexdigest()

    # ---- dead letters --------------------------------------------------------------------------------------

    def seal_dead_letter(self, topic: str, value: bytes | None) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        """The value to dead-letter from `topic`: on topics with residents' contacts, the `resident` object is
        encrypted (the rest stays readable); a value that is not a JSON object is encrypted whole."""
        if topic not in RESIDENT_TOPICS or not value:
            return value, []
        try:
            data = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            return self._fernet.encrypt(value), [(DLT_SEALED_HEADER, b"value")]
        if data.get("resident") is None:  # no contact in clear (intake sends it sealed in `resident_sealed`)
            return value, []
        data["resident"] = self.encrypt(json.dumps(data["resident"], ensure_ascii=False))
        return json.dumps(data, ensure_ascii=False).encode(), [(DLT_SEALED_HEADER, b"resident")]

    def open_dead_letter(self, value: bytes | None, headers: list[tuple[str, bytes]]) -> bytes | None:
        """The original value of a sealed dead letter (for replay)."""
        mark = dict(headers).get(DLT_SEALED_HEADER)
        if value is None or mark is None:
            return value
        if mark == b"value":
            return self._fernet.decrypt(value)
        data = json.loads(value)
        data["resident"] = json.loads(self.decrypt(data["resident"]))
        return json.dumps(data, ensure_ascii=False).encode()


__all__ = ["InvalidToken", "ResidentCipher"]
