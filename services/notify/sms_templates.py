"""The SMS template table (templates/sms-templates.json): which approved template each provider sends for a step,
and which message value fills each of its parameters, shortened to the provider's limits.

Aliyun names its parameters (`${case_no}`), Tencent numbers them (`{1}`); both send only pre-approved templates,
so the wording lives with the provider and notify sends the parameters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from gridloop.contracts.events import RESIDENT_VISIBLE

Provider = Literal["aliyun", "tencent"]
PROVIDERS: tuple[Provider, ...] = ("aliyun", "tencent")
ValueKind = Literal["number", "text"]
ELLIPSIS = "…"
OFFICIAL_STEP = "official_escalated"  # what officials get when a case reaches their rung (officials.py)
REQUIRED_STEPS = RESIDENT_VISIBLE | {OFFICIAL_STEP}

_ALIYUN_PARAM = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_TENCENT_PARAM = re.compile(r"\{(\d+)\}")


class ParameterTooLong(ValueError):
    """A number-like value (case number, token) longer than the provider allows: shortening it would mislead."""


@dataclass(frozen=True)
class ProviderTemplate:
    step: str
    code: str  # Aliyun TemplateCode / Tencent TemplateId
    text: str  # exactly as submitted for approval (after {public_base_url} is filled in)
    names: tuple[str, ...]  # the template's parameter names (Aliyun) or positions "1", "2", … (Tencent)
    sources: tuple[str, ...]  # the message value filling each parameter


@dataclass(frozen=True)
class SmsTemplateTable:
    sign_name: str
    limits: dict[str, dict[str, int]]
    kinds: dict[str, ValueKind]
    templates: dict[str, dict[str, ProviderTemplate]]  # provider -> step -> template

    @classmethod
    def load(cls, path: Path, *, public_base_url: str = "") -> SmsTemplateTable:
        raw = json.loads(path.read_text(encoding="utf-8"))
        kinds = {k: v for k, v in raw["kinds"].items() if not k.startswith("_")}
        limits: dict[str, dict[str, int]] = {p: {k: int(v) for k, v in raw["limits"][p].items()} for p in PROVIDERS}
        templates: dict[str, dict[str, ProviderTemplate]] = {p: {} for p in PROVIDERS}
        for step, by_provider in raw["steps"].items():
            for provider in PROVIDERS:
                entry = by_provider.get(provider)
                if entry is not None:
                    templates[provider][step] = _template(path, provider, step, entry, kinds, public_base_url)
        for provider in PROVIDERS:
            missing = REQUIRED_STEPS - templates[provider].keys()
            if missing:
                raise ValueError(f"{path}: no {provider} template for steps {sorted(missing)}")
        return cls(raw.get("sign_name", "金牛网格"), limits, kinds, templates)

    def template(self, provider: Provider, step: str) -> ProviderTemplate:
        return self.templates[provider][step]

    def parameters(self, provider: Provider, step: str, values: dict[str, str]) -> list[tuple[str, str]]:
        """The template's parameters, in order, each value fitted to the provider's limit for its kind."""
        template = self.template(provider, step)
        return [
            (name, self.fit(provider, source, values.get(source, "")))
            for name, source in zip(template.names, template.sources, strict=True)
        ]

    def fit(self, provider: Provider, source: str, value: str) -> str:
        kind = self.kinds[source]
        limit = self.limits[provider][kind]
        value = " ".join(str(value).split())  # providers refuse line breaks in parameters
        if len(value) <= limit:
            return value
        if kind == "number":
            raise ParameterTooLong(f"{source} has {len(value)} characters; {provider} allows {limit}")
        return value[: limit - 1] + ELLIPSIS


def _template(
    path: Path, provider: Provider, step: str, entry: dict[str, Any], kinds: dict[str, ValueKind], public_base_url: str
) -> ProviderTemplate:
    text = entry["text"].replace("{public_base_url}", public_base_url)
    params = entry["params"]
    if provider == "aliyun":
        names = tuple(params)
        sources = tuple(params.values())
        in_text = _ALIYUN_PARAM.findall(text)
        if sorted(in_text) != sorted(names) or len(set(in_text)) != len(in_text):
            raise ValueError(f"{path}: {provider} {step}: the text names {in_text}, the table {list(names)}")
    else:
        names = tuple(str(i) for i in range(1, len(params) + 1))
        sources = tuple(params)
        in_text = _TENCENT_PARAM.findall(text)
        if in_text != list(names):
            raise ValueError(f"{path}: {provider} {step}: the text has {in_text}, the table {len(params)} values")
    unknown = [s for s in sources if s not in kinds]
    if unknown:
        raise ValueError(f"{path}: {provider} {step}: unknown values {unknown}")
    return ProviderTemplate(step, str(entry["code"]), text, names, sources)


def message_values(context: dict[str, Any], link: str) -> dict[str, str]:
    """The values a template may use: the message's context, and the tokens of its case-page link."""
    values = {k: "" if v is None else str(v) for k, v in context.items()}
    parts = urlsplit(link)
    if "/c/" in parts.path:
        values["tracking_token"] = parts.path.rsplit("/c/", 1)[1]
    values["feedback_token"] = (parse_qs(parts.query).get("t") or [values.get("feedback_token", "")])[0]
    return values
