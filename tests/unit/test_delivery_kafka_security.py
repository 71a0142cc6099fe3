"""Kafka TLS and SASL settings: incomplete ones are refused at start-up, complete ones reach every client."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from gridloop.delivery.kafka import KafkaSettings


def test_plaintext_passes_only_the_bootstrap_servers():
    assert KafkaSettings(bootstrap_servers="b:9092").client_options() == {"bootstrap_servers": "b:9092"}


def test_sasl_without_a_password_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "gridloop")
    with pytest.raises(ValidationError, match="needs sasl_username and sasl_password"):
        KafkaSettings()


def test_a_missing_ca_file_is_refused_at_start_up(tmp_path):
    with pytest.raises(ValidationError, match="not a readable file"):
        KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "absent.pem")


def test_a_client_certificate_needs_its_key(tmp_path):
    cert = tmp_path / "client.pem"
    cert.write_text("not checked here")
    with pytest.raises(ValidationError, match="go together"):
        KafkaSettings(security_protocol="SSL", ssl_certfile=cert)


def test_sasl_ssl_from_the_environment_gives_scram_and_a_verifying_tls_context(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "gridloop")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    settings = KafkaSettings()
    assert "s3cret" not in repr(settings)  # a SecretStr: never in a log line or a traceback
    options = settings.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gridloop", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
