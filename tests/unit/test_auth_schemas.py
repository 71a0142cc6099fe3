"""Every request body of every service is strict: unknown fields refused, every string bounded; text is NFC."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from gridloop.contracts.schemas import StrictModel, Text
from services.departments.main import make_app as departments_app
from services.intake.main import make_app as intake_app
from services.notify.main import make_app as notify_app
from services.router.main import make_app as router_app

APPS = {"intake": intake_app, "router": router_app, "departments": departments_app, "notify": notify_app}
# Bodies that deliberately ignore unknown fields, and why (services/notify/schemas.py): the SMS gateway's callbacks
# must not bounce a receipt because the provider added a field; so must the Aliyun and Tencent callbacks.
IGNORES_UNKNOWN = {"SmsReceipt", "InboundSms", "AliyunReport", "AliyunUp", "TencentReceipt", "TencentReply"}
BOUNDED_FORMATS = {"uuid", "date-time", "date", "time"}


def request_bodies(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every schema named by a request body (JSON or form), with the schemas they refer to."""
    components = schema.get("components", {}).get("schemas", {})
    found: dict[str, dict[str, Any]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found[name] = components[name]
                    visit(components[name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for path in schema["paths"].values():
        for operation in path.values():
            visit(operation.get("requestBody", {}))
    return found


def unbounded_strings(name: str, node: Any, where: str = "") -> list[str]:
    problems = []
    if isinstance(node, dict):
        if node.get("type") == "string" and not (
            {"maxLength", "enum", "const", "pattern"} & node.keys() or node.get("format") in BOUNDED_FORMATS
        ):
            problems.append(f"{name}{where}")
        for key, value in node.items():
            problems += unbounded_strings(name, value, f"{where}.{key}" if key != "properties" else where)
    elif isinstance(node, list):
        for value in node:
            problems += unbounded_strings(name, value, where)
    return problems


@pytest.mark.parametrize("service", list(APPS))
def test_every_request_body_refuses_unknown_fields_and_bounds_its_strings(service: str) -> None:
    bodies = request_bodies(APPS[service]().openapi())
    loose = [n for n, s in bodies.items() if s.get("type") == "object" and s.get("additionalProperties") is not False]
    assert sorted(set(loose) - IGNORES_UNKNOWN) == []
    unbounded = [p for name, body in bodies.items() for p in unbounded_strings(name, body)]
    assert unbounded == []


def test_text_is_nfc_normalised_before_its_length_is_checked() -> None:
    class Note(StrictModel):
        text: Text

    decomposed = unicodedata.normalize("NFD", "Café 金牛")
    assert Note(text=f"  {decomposed} ").text == "Café 金牛"
    with pytest.raises(ValueError, match="Extra inputs"):
        Note(text="x", priority="high")
