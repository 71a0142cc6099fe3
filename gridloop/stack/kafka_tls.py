"""A SASL_SSL listener for the local broker: TLS with a local CA, clients log in with SCRAM-SHA-512.

Off unless GRIDLOOP_KAFKA_SASL_PORT is set. The CA and the broker's certificate (for 127.0.0.1 and localhost)
are made once under .gridloop/kafka/tls/; clients trust ca.pem (KAFKA_SSL_CAFILE). The SCRAM user is
GRIDLOOP_KAFKA_SASL_USERNAME / _PASSWORD (gridloop / gridloop-local: for local runs only). Production brokers
get their certificates and users from the platform (docs/delivery.md#kafka-security)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridloop.stack.procs import StackError

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SaslListener:
    port: int
    username: str
    password: str
    tls_dir: Path

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def sasl_listener(home: Path) -> SaslListener | None:
    """The listener the environment asks for, or None."""
    port = os.environ.get("GRIDLOOP_KAFKA_SASL_PORT")
    if not port:
        return None
    return SaslListener(
        port=int(port),
        username=os.environ.get("GRIDLOOP_KAFKA_SASL_USERNAME", "gridloop"),
        password=os.environ.get("GRIDLOOP_KAFKA_SASL_PASSWORD", "gridloop-local"),
        tls_dir=home / "kafka" / "tls",
    )


def broker_properties(config: str, listener: SaslListener) -> str:
    """server.properties with the SASL_SSL listener added beside PLAINTEXT (which stays for the tools)."""
    keystore = ensure_certificates(listener.tls_dir)
    address = f"SASL_SSL://127.0.0.1:{listener.port}"
    lines = []
    for line in config.splitlines():
        if line.startswith(("listeners=", "advertised.listeners=")):
            line = f"{line},{address}"
        elif line.startswith("listener.security.protocol.map="):
            line = f"{line},SASL_SSL:SASL_SSL"
        lines.append(line)
    lines += [
        "",
        "# SASL_SSL listener (gridloop.stack.kafka_tls): TLS from a local CA, SCRAM-SHA-512 logins.",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keystore}",
        "ssl.client.auth=none",
        "",
    ]
    return "\n".join(lines)


def ensure_scram_user(java_argv: list[str], plaintext_bootstrap: str, listener: SaslListener) -> None:
    """Create or update the SCRAM credential (kafka-configs over the PLAINTEXT listener); idempotent."""
    argv = [
        *java_argv,
        "--bootstrap-server",
        plaintext_bootstrap,
        "--alter",
        "--add-config",
        f"{MECHANISM}=[iterations=8192,password={listener.password}]",
        "--entity-type",
        "users",
        "--entity-name",
        listener.username,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise StackError(f"creating the SCRAM user {listener.username} failed:\n{result.stdout}{result.stderr}")


def ensure_certificates(tls_dir: Path) -> Path:
    """A CA (ca.pem) and the broker's key + certificate chain (broker.pem, readable by its owner only); made once.

    The key is not encrypted: the broker's JVM has no PBES2 to read an encrypted PKCS#8 PEM key."""
    keystore = tls_dir / "broker.pem"
    if keystore.is_file() and (tls_dir / "ca.pem").is_file():
        return keystore
    tls_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GridLoop local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = broker_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = serialization.Encoding.PEM
    (tls_dir / "ca.pem").write_bytes(ca.public_bytes(pem))
    keystore.touch(mode=0o600)
    keystore.write_bytes(key_pem + broker.public_bytes(pem) + ca.public_bytes(pem))
    return keystore
