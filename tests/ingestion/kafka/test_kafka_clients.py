"""The Kafka client choice and the confluent consumer's cutting of records into runs (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.errors import PinpipeError
from ingestion.kafka import clients as kafka_clients
from ingestion.kafka.clients import choose_client
from ingestion.settings import Settings

confluent_kafka = pytest.importorskip("confluent_kafka")


def test_auto_takes_confluent_when_installed_else_kafka_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka_client == "auto"
    assert choose_client(settings) == "confluent"
    assert choose_client(settings.model_copy(update={"kafka_client": "kafka-python"})) == "kafka-python"
    monkeypatch.setattr(kafka_clients, "installed", lambda client: client == "kafka-python")
    assert choose_client(settings) == "kafka-python"
    with pytest.raises(PinpipeError, match="kafka-fast extra"):
        choose_client(settings.model_copy(update={"kafka_client": "confluent"}))
    monkeypatch.setattr(kafka_clients, "installed", lambda client: False)
    with pytest.raises(PinpipeError, match="no Kafka client is installed"):
        choose_client(settings)


def test_an_unknown_client_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kafka_client"):
        Settings(data_dir=tmp_path, kafka_client="librdkafka")


def test_records_are_cut_into_runs_of_one_partition_with_contiguous_offsets() -> None:
    from ingestion.kafka.confluent import _runs

    def message(topic: str, partition: int, offset: int, value: bytes | None) -> object:
        return confluent_kafka.Message(topic=topic, partition=partition, offset=offset, value=value)

    batch = [
        *(message("a", 0, o, b"a%d" % o) for o in range(10, 13)),
        message("b", 0, 13, None),  # same partition number, other topic; no value
        message("a", 1, 13, b"x"),  # same offset, other partition
        message("a", 0, 13, b"a13"),  # topic a partition 0 again: a run of its own
        message("a", 0, 15, b"a15"),  # a gap (e.g. a transaction marker at 14)
        message("a", 0, 16, b"a16"),
    ]
    assert _runs(batch) == [
        ("a", 0, 10, [b"a10", b"a11", b"a12"]),
        ("b", 0, 13, [b""]),
        ("a", 1, 13, [b"x"]),
        ("a", 0, 13, [b"a13"]),
        ("a", 0, 15, [b"a15", b"a16"]),
    ]
    assert _runs([]) == []
