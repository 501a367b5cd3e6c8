"""The local Kafka broker of ``devservices.kafka``, tested against a real Kafka 4 JVM.

The module's broker is started once (jars fetched with Maven if not cached yet) and stopped at the end;
restart and crash tests stop and start that same broker on its data directory.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from devservices.kafka import (
    KAFKA_VERSION,
    POM,
    LocalKafka,
    LocalServiceError,
    broker_status,
    fetch_kafka_jars,
    stop_background,
)
from devservices.processes import free_ports
from ingestion.maven_jars import JarFetchError

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def jars() -> Path:
    """Kafka's jars in the default cache, fetched with Maven on first use."""
    return fetch_kafka_jars()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, jars: Path) -> Iterator[LocalKafka]:
    """One running broker for the module, on a temporary data directory."""
    with LocalKafka(tmp_path_factory.mktemp("kafka"), jars=jars) as kafka:
        yield kafka
    assert not kafka.is_running()


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Send ``values`` to ``topic`` with acks from all replicas, and wait for them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, key=b"k", value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def consume(bootstrap: str, topic: str, count: int, group: str | None = None) -> list[bytes]:
    """Read ``count`` records of ``topic`` from its start (or the group's offset) and commit them."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        if group is not None:
            consumer.commit()
    finally:
        consumer.close()
    return values


def committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The offset ``group`` committed on partition 0 of ``topic``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return None if meta is None else meta.offset


def listen_addresses(port: int) -> set[str]:
    """Addresses with a TCP socket listening on ``port``, from /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address)
            swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(swapped)
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            found.add(str(mapped or ip))
    return found


def values(prefix: str, count: int) -> list[bytes]:
    """``count`` distinct record values."""
    return [f"{prefix}-{i}".encode() for i in range(count)]


def test_pom_default_version_is_the_modules() -> None:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text(encoding="utf-8"))
    assert match is not None and match.group(1) == KAFKA_VERSION


def test_listens_on_loopback_only(broker: LocalKafka) -> None:
    for port in (broker.port, broker.controller_port):
        assert listen_addresses(port) == {"127.0.0.1"}
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"


def test_produce_and_consume(broker: LocalKafka) -> None:
    broker.create_topics(["events"], partitions=1)
    sent = values("event", 5)
    produce(broker.bootstrap_servers, "events", sent)
    assert consume(broker.bootstrap_servers, "events", 5, group="g1") == sent
    assert committed(broker.bootstrap_servers, "g1", "events") == 5


def test_topics_are_not_auto_created(broker: LocalKafka) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, max_block_ms=2000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send("no-such-topic", value=b"x").get(timeout=5)
    finally:
        producer.close()


def test_restart_keeps_topics_records_and_offsets(broker: LocalKafka) -> None:
    broker.create_topics(["durable"], partitions=1)
    sent = values("durable", 7)
    produce(broker.bootstrap_servers, "durable", sent)
    assert consume(broker.bootstrap_servers, "durable", 7, group="g2") == sent
    port = broker.port

    broker.stop()
    assert not broker.is_running()
    assert not (broker.data_dir / "kafka.pid").exists()
    broker.start()

    assert broker.port == port
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        assert {"durable", "events"} <= set(admin.list_topics())
    finally:
        admin.close()
    assert consume(broker.bootstrap_servers, "durable", 7) == sent
    assert committed(broker.bootstrap_servers, "g2", "durable") == 7


def test_kill_then_start_recovers(broker: LocalKafka) -> None:
    broker.create_topics(["crash"], partitions=1)
    sent = values("crash", 5)
    produce(broker.bootstrap_servers, "crash", sent)

    broker.kill()
    assert not broker.is_running()
    assert (broker.data_dir / "kafka.pid").exists()  # left behind, as by a real crash
    broker.start()

    assert consume(broker.bootstrap_servers, "crash", 5) == sent
    more = values("after", 3)
    produce(broker.bootstrap_servers, "crash", more)
    assert consume(broker.bootstrap_servers, "crash", 8) == sent + more


def test_controller_port_is_fixed_by_the_data_dir(broker: LocalKafka) -> None:
    with pytest.raises(LocalServiceError, match="controller port"):
        LocalKafka(broker.data_dir, controller_port=broker.controller_port + 1)
    assert LocalKafka(broker.data_dir).bootstrap_servers == broker.bootstrap_servers


def test_start_failure_raises_with_log_tail(tmp_path: Path, jars: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        kafka = LocalKafka(tmp_path / "kafka", port=taken.getsockname()[1], jars=jars)
        with pytest.raises(LocalServiceError, match="Kafka exited") as error:
            kafka.start(timeout=60)
    assert "Address already in use" in str(error.value)
    assert not kafka.is_running()


def test_command_line_start_status_stop(tmp_path: Path, jars: Path) -> None:
    data_dir = tmp_path / "cli" / "kafka"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        pinpipe = str(Path(sys.executable).with_name("pinpipe"))
        command = [pinpipe, "--data-dir", str(data_dir.parent), "kafka", *args]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    try:
        started = cli("start", "--port", str(free_ports(1)[0]))
        assert started.returncode == 0, started.stderr
        status = broker_status(data_dir)
        assert status.running and status.bootstrap_servers is not None
        assert status.bootstrap_servers in started.stdout
        shown = cli("status")
        assert shown.returncode == 0 and status.bootstrap_servers in shown.stdout
        stopped = cli("stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert cli("status").returncode == 3
    finally:
        stop_background(data_dir)
    assert not broker_status(data_dir).running


def test_fetch_is_cached_and_fails_clearly(
    tmp_path: Path, jars: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert fetch_kafka_jars(jars) == jars  # cached: no mvn needed
    with pytest.raises(JarFetchError, match="mvn is not on PATH"):
        fetch_kafka_jars(tmp_path / "nomvn")

    fake = bin_dir / "mvn"
    fake.write_text("#!/bin/sh\necho '[ERROR] Could not resolve dependencies'\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(JarFetchError, match="exit 1") as error:
        fetch_kafka_jars(tmp_path / "badmvn")
    assert "Could not resolve dependencies" in str(error.value)
    assert not (tmp_path / "badmvn").exists()
