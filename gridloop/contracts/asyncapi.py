"""Generates docs/asyncapi.yaml (AsyncAPI 3.0) from the topic names and the pydantic event contracts.

python -m gridloop.contracts.asyncapi          # rewrite docs/asyncapi.yaml
python -m gridloop.contracts.asyncapi --check  # exit 1 if the committed document is not current
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from gridloop.contracts.events import DETAILS, CaseDispatched, CaseReported, CaseStatusChanged, Event, StatusDetail
from gridloop.contracts.topics import (
    ALL_TOPICS,
    CASES_REPORTED,
    CASES_STATUS,
    DEPARTMENT_NAMES_ZH,
    DEPARTMENT_TOPICS,
    dead_letter_topic,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
REF = "#/components/schemas/{model}"
MODELS: tuple[type[Event], ...] = (CaseReported, CaseDispatched, CaseStatusChanged)
# topic -> (event, who publishes, who consumes)
TOPICS: dict[str, tuple[type[Event], str, str]] = {
    CASES_REPORTED: (CaseReported, "intake", "router, notify"),
    CASES_STATUS: (CaseStatusChanged, "intake, router, departments, notify", "intake (timeline), notify"),
    **{
        topic: (CaseDispatched, "router", f"departments; the {DEPARTMENT_NAMES_ZH[dept]} ({dept}) system")
        for dept, topic in DEPARTMENT_TOPICS.items()
    },
}
KEY = {"type": "string", "format": "uuid", "description": "the case id: every event of a case lands on one partition"}


def channel_id(topic: str) -> str:
    parts = topic.removeprefix("gridloop.").replace(".", "_").split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])


def cloudevents_headers(event: type[Event]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode",
        "required": ["ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion", "content-type"],
        "properties": {
            "ce_id": {"type": "string", "format": "uuid", "description": "event id; consumers deduplicate on it"},
            "ce_type": {"type": "string", "const": event.event_type},
            "ce_source": {
                "type": "string",
                "enum": ["/gridloop/intake", "/gridloop/router", "/gridloop/departments", "/gridloop/notify"],
            },
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_specversion": {"type": "string", "const": "1.0"},
            "content-type": {"type": "string", "const": "application/json"},
            **TRACE_CONTEXT_HEADERS,
        },
    }


# W3C Trace Context, when the event was written inside a traced span (docs/operations.md#tracing): optional.
TRACE_CONTEXT_HEADERS = {
    "traceparent": {
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C traceparent of the producer's send span; a consumer's span is its child",
    },
    "tracestate": {"type": "string", "description": "W3C tracestate, vendor data travelling with traceparent"},
}


DEAD_LETTER_HEADERS = {
    "type": "object",
    "description": "the original record's headers (CloudEvents ones if it had them), plus why it was dead-lettered",
    "required": [
        "dlt_original_topic",
        "dlt_original_partition",
        "dlt_original_offset",
        "dlt_consumer_group",
        "dlt_exception_class",
        "dlt_exception_message",
    ],
    "properties": {
        "dlt_original_topic": {"type": "string"},
        "dlt_original_partition": {"type": "string", "description": "decimal"},
        "dlt_original_offset": {"type": "string", "description": "decimal"},
        "dlt_consumer_group": {"type": "string"},
        "dlt_exception_class": {"type": "string", "examples": ["PoisonMessage"]},
        "dlt_exception_message": {"type": "string", "maxLength": 1000},
    },
}


def schemas() -> dict[str, Any]:
    refs, top = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    found = dict(top.get("$defs", {}))
    for model in MODELS:
        found.setdefault(model.__name__, refs[(model, "validation")])
    found[CaseStatusChanged.__name__] = {**found[CaseStatusChanged.__name__], "allOf": detail_by_status()}
    for model in MODELS:
        found[f"{model.__name__}Headers"] = cloudevents_headers(model)
    found["DeadLetterHeaders"] = DEAD_LETTER_HEADERS
    return dict(sorted(found.items()))


def detail_by_status() -> list[dict[str, Any]]:
    """Which detail model a step of each status carries (`DETAILS`), as JSON Schema conditionals."""
    statuses: dict[type[StatusDetail], list[str]] = {}
    for status, model in DETAILS.items():
        statuses.setdefault(model, []).append(status)
    return [
        {
            "if": {"properties": {"status": {"enum": names}}},
            "then": {"properties": {"detail": {"$ref": REF.format(model=model.__name__)}}},
        }
        for model, names in statuses.items()
    ]


def message(model: type[Event]) -> dict[str, Any]:
    return {
        "name": model.__name__,
        "title": f"{model.__name__} ({model.event_type})",
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "contentType": "application/json",
        "headers": {"$ref": REF.format(model=f"{model.__name__}Headers")},
        "payload": {"$ref": REF.format(model=model.__name__)},
        "bindings": {"kafka": {"key": KEY, "bindingVersion": "0.5.0"}},
    }


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        model, producers, consumers = TOPICS[topic]
        cid, msg = channel_id(topic), model.__name__
        summary = (model.__doc__ or "").strip().splitlines()[0]
        channels[cid] = {
            "address": topic,
            "description": f"{summary} Published by {producers}; consumed by "
            f"{consumers}. Key: case id.",
            "messages": {msg: {"$ref": f"#/components/messages/{msg}"}},
            "bindings": topic_bindings(),
        }
        channels[f"{cid}DeadLetters"] = {
            "address": dead_letter_topic(topic),
            "description": f"Records from {topic} that could not be processed (undecodable, schema-invalid, or "
            "failing after retries). Replay them after a fix.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": topic_bindings(),
        }
        ref = {"$ref": f"#/channels/{cid}"}
        messages = [{"$ref": f"#/channels/{cid}/messages/{msg}"}]
        operations[f"publish{cid[0].upper()}{cid[1:]}"] = {
            "action": "send",
            "title": f"{producers} publish to {topic}",
            "channel": ref,
            "messages": messages,
        }
        operations[f"consume{cid[0].upper()}{cid[1:]}"] = {
            "action": "receive",
            "title": f"{consumers} consume {topic}",
            "channel": ref,
            "messages": messages,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "GridLoop events",
            "version": "1.0.0",
            "description": (
                "Events of GridLoop, the community grid governance pipeline of Jinniu district, Chengdu. Every "
                "event is a CloudEvent in Kafka binary mode: ce_* headers, JSON payload, record key = case id. "
                "Event types carry their version (…v1). Consumers deduplicate on ce_id (delivery is at least "
                "once on the wire, exactly once in effect). A traced event also carries the W3C traceparent (and "
                "tracestate) header, so one case's journey is one trace. Department systems consume "
                "gridloop.dept.<department> and report back through the departments REST API. Generated from "
                "gridloop/contracts by `python -m gridloop.contracts.asyncapi`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:19092", "protocol": "kafka", "description": "gridloop stack up"},
            "production": {
                "host": "gridloop-kafka-bootstrap.kafka.svc:9093",
                "protocol": "kafka-secure",
                "description": "three brokers (e.g. Strimzi), TLS; see docs/operations.md",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                **{m.__name__: message(m) for m in MODELS},
                "DeadLetter": {
                    "name": "DeadLetter",
                    "summary": "The original record's key and value, unchanged, with dlt_* headers saying why.",
                    "headers": {"$ref": REF.format(model="DeadLetterHeaders")},
                    "payload": {"description": "the original value, possibly not JSON"},
                    "bindings": {"kafka": {"key": KEY, "bindingVersion": "0.5.0"}},
                },
            },
            "schemas": schemas(),
        },
    }


def topic_bindings() -> dict[str, Any]:
    """Production topic settings (docs/operations.md): three replicas, 7 days' retention."""
    config = {"cleanup.policy": ["delete"], "retention.ms": 604_800_000, "min.insync.replicas": 2}
    return {"kafka": {"partitions": 6, "replicas": 3, "topicConfiguration": config, "bindingVersion": "0.5.0"}}


class _PlainDumper(yaml.SafeDumper):
    """Writes shared sub-documents out in full: no YAML anchors for readers of the spec."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> str:
    header = "# Generated by `python -m gridloop.contracts.asyncapi` from gridloop/contracts; do not edit.\n"
    body: str = yaml.dump(document(), Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=110)
    return header + body


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOCUMENT.is_file() or DOCUMENT.read_text(encoding="utf-8") != text:
            print(f"{DOCUMENT} is not current: run python -m gridloop.contracts.asyncapi")
            return 1
        return 0
    DOCUMENT.write_text(text, encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
