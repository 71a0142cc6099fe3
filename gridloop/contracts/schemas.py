"""What every request body is built from: unknown fields refused, text NFC-normalised and stripped."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from gridloop.contracts.events import NfcText, clean_text

Text = NfcText  # text a person typed, in a request body


class StrictModel(BaseModel):
    """Base of request bodies: extra fields are an error; every string is NFC-normalised before validation,
    so length limits count the characters a person sees, and NUL or lone surrogates are a 422."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _normalise_text(cls, value: Any) -> Any:
        return clean_text(value) if isinstance(value, str) else value
