"""A single-node KRaft Kafka broker run from the official jars, which Maven resolves into .gridloop/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient

from gridloop.stack import paths
from gridloop.stack.kafka_tls import broker_properties, ensure_scram_user, sasl_listener
from gridloop.stack.procs import (
    Managed,
    StackError,
    is_up,
    locked,
    port_open,
    run_coroutine,
    start_and_wait,
    step,
    stop,
    tail,
)

# Ports may be moved (GRIDLOOP_KAFKA_PORT, GRIDLOOP_KAFKA_CONTROLLER_PORT) so a second broker, e.g. the chaos
# test's, runs beside the shared one; give it its own GRIDLOOP_HOME too (data, pid and lock files).
KAFKA = Managed(name="kafka", port=int(os.environ.get("GRIDLOOP_KAFKA_PORT", "19092")), marker="kafka.Kafka")
BOOTSTRAP = KAFKA.address
CONTROLLER_PORT = int(os.environ.get("GRIDLOOP_KAFKA_CONTROLLER_PORT", "19093"))
# Fixed KRaft cluster id (base64url of "GridLoopLocal001"): re-formatting never produces a mismatch.
CLUSTER_ID = "R3JpZExvb3BMb2NhbDAwMQ"
START_TIMEOUT = 90.0


def kafka_version() -> str:
    """The version pinned in deploy/kafka/pom.xml."""
    pom = (paths.deploy_dir() / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    if not match:
        raise StackError("deploy/kafka/pom.xml has no <kafka.version> property")
    return match.group(1).strip()


def libs_dir() -> Path:
    return paths.home() / "kafka" / kafka_version() / "libs"


def resolve_jars() -> Path:
    """Copy the broker, tools and logging jars from Maven Central into libs_dir() once."""
    libs = libs_dir()
    with locked("maven"):
        if not (libs / f"kafka_2.13-{kafka_version()}.jar").is_file():
            _copy_jars(libs)
    return libs


def start_kafka() -> str:
    """Start the broker unless it already runs; return its bootstrap address once it answers."""
    with locked(KAFKA.name):
        bootstrap = _start()
        listener = sasl_listener(paths.home())
        if listener is not None:  # also when the broker already ran: a user lost with its data comes back
            with step(f"SCRAM user {listener.username} for the SASL_SSL listener on {listener.bootstrap}"):
                ensure_scram_user(java_command("org.apache.kafka.tools.ConfigCommand"), bootstrap, listener)
        return bootstrap


def stop_kafka(sig: int = signal.SIGTERM, timeout: float = 60.0) -> bool:
    """Stop the broker (a clean SIGTERM shutdown takes a few seconds). False if it was not running."""
    with locked(KAFKA.name):
        return stop(KAFKA, sig=sig, timeout=timeout)


def restart_kafka(sig: int = signal.SIGTERM) -> str:
    """Stop (with sig, e.g. SIGKILL for a crash) and start again on the same data."""
    with locked(KAFKA.name):
        stop(KAFKA, sig=sig, timeout=60.0)
        return _start()


def broker_answers(bootstrap: str = BOOTSTRAP, timeout_ms: int = 5000) -> bool:
    """True if the broker returns cluster metadata. Safe to call from inside a running event loop."""

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
        try:
            await admin.start()
            await admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return run_coroutine(probe())


def _start() -> str:
    if is_up(KAFKA):
        return BOOTSTRAP
    if port_open(KAFKA.port):
        if broker_answers():
            print(
                f"   a Kafka broker not started from {paths.home()} already answers on {BOOTSTRAP}; using it"
            )
            return BOOTSTRAP
        raise StackError(f"port {KAFKA.port} is taken by something that is not a Kafka broker")
    libs = resolve_jars()
    config = _write_config()
    _format_storage(libs, config)
    with step(f"starting Kafka {kafka_version()} on {BOOTSTRAP}"):
        start_and_wait(
            KAFKA,
            _java(libs, "kafka.Kafka", str(config)),
            ready=lambda: port_open(KAFKA.port) and broker_answers(),
            timeout=START_TIMEOUT,
            what=f"Kafka to answer on {BOOTSTRAP}",
        )
    return BOOTSTRAP


def _copy_jars(libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is not installed; run deploy/local/install-deps.sh")
    partial = libs.with_name("libs.partial")  # renamed into place only when complete
    shutil.rmtree(partial, ignore_errors=True)
    log = paths.logs_dir() / "maven.log"
    pom = paths.deploy_dir() / "kafka" / "pom.xml"
    argv = [
        mvn,
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-Dlibs.dir={partial}",
    ]
    with step(f"resolving Kafka {kafka_version()} jars with Maven (log: {log})"), log.open("wb") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise StackError(f"Maven could not resolve the Kafka jars (exit {result.returncode}):\n{tail(log)}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)


def _write_config() -> Path:
    conf_dir = paths.home() / "kafka" / "config"
    conf_dir.mkdir(parents=True, exist_ok=True)
    template = Template((paths.deploy_dir() / "kafka" / "server.properties").read_text())
    config = conf_dir / "server.properties"
    text = template.substitute(
        data_dir=paths.home() / "kafka" / "data", port=KAFKA.port, controller_port=CONTROLLER_PORT
    )
    listener = sasl_listener(paths.home())
    config.write_text(text if listener is None else broker_properties(text, listener))
    return config


def _format_storage(libs: Path, config: Path) -> None:
    if (paths.home() / "kafka" / "data" / "meta.properties").is_file():
        return
    argv = _java(
        libs,
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        CLUSTER_ID,
        "--config",
        str(config),
        "--ignore-formatted",
    )
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def java_command(main_class: str, *args: str) -> list[str]:
    """argv to run a class from the Kafka jars, e.g. org.apache.kafka.tools.ProducerPerformance."""
    return _java(resolve_jars(), main_class, *args)


def _java(libs: Path, main_class: str, *args: str) -> list[str]:
    java = shutil.which("java") or str(Path(os.environ.get("JAVA_HOME", "/nonexistent")) / "bin" / "java")
    if not Path(java).is_file():
        raise StackError("Java 17+ is not installed; run deploy/local/install-deps.sh")
    heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g").split()
    return [
        java,
        *heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.deploy_dir() / 'kafka' / 'log4j2.xml'}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]
