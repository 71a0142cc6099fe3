"""What every request body is built from: unknown fields refused, text NFC-normalised and stripped."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


Text = Annotated[str, AfterValidator(nfc)]


class StrictModel(BaseModel):
    """Base of request bodies: extra fields are an error; every string is NFC-normalised before validation,
    so length limits count the characters a person sees."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _normalise_text(cls, value: Any) -> Any:
        return unicodedata.normalize("NFC", value) if isinstance(value, str) else value
