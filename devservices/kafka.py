"""A local single-node Apache Kafka 4.x broker (KRaft: broker and controller in one JVM).

The jars come from Maven Central through ``scripts/kafka/pom.xml`` (:func:`fetch_kafka_jars`), nothing
from anywhere else. :class:`LocalKafka` formats the storage of a data directory once (a standalone
controller quorum), writes ``server.properties`` and runs ``kafka.Kafka`` on Java 17 as a child process
in its own process group. Stopping and starting again on the same data directory keeps the topics, the
records and the committed offsets; so does a crash (:meth:`LocalKafka.kill`) followed by a start.

Layout of a data directory:

- ``local-kafka.json``: cluster id, node id and both ports. A restart reuses the ports: the controller's
  address is recorded in the KRaft metadata when the storage is formatted, and clients keep their
  bootstrap address.
- ``server.properties`` and ``log4j2.properties``: written again on every start.
- ``server.log``: everything the JVM prints (appended to, one header line per start).
- ``kraft-logs/``: Kafka's log directory (the topics and the ``__cluster_metadata`` log).
- ``kafka.pid``: the pid of the running broker (left behind by a crash; a dead pid is ignored).

Choices for a development broker:

- Both listeners bind 127.0.0.1 only (PLAINTEXT for clients, CONTROLLER for the quorum).
- ``auto.create.topics.enable=false``: topics are created explicitly (:meth:`LocalKafka.create_topics`,
  with the partition count of the settings), so a misspelt topic name fails instead of silently creating
  an empty topic with the wrong number of partitions.
- Replication factors and min ISR 1; ``group.initial.rebalance.delay.ms=0`` so consumers start at once.
- Kafka's internal topics (consumer offsets, transaction and share-group state) have 1 partition, not
  50: fewer files and a faster load after a restart.
- ``broker.session.timeout.ms=4000`` (default 9000): after a crash the controller refuses the restarted
  broker's registration (DUPLICATE_BROKER_REGISTRATION) until the old session expires, so a shorter
  session makes a start after :meth:`LocalKafka.kill` about 5 s faster.
- Kafka's dumps of every configuration value (``AbstractConfig``) are not logged; the rest at INFO.
- No time-based retention: replayed records carry old event timestamps and would otherwise be deleted at
  the first retention check. Size-based retention keeps at most 1 GiB per partition.

Command line: ``pinpipe kafka start|stop|status [--port P]`` (devservices/cli.py, a ``pinpipe.commands``
plugin); :func:`start_background`, :func:`stop_background` and :func:`broker_status` hold its logic.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from devservices.processes import (
    HOST,
    LocalServiceError,
    command_line,
    free_ports,
    pid_alive,
    signal_group,
    wait_for_exit,
)
from ingestion.maven_jars import fetch_jars
from ingestion.settings import PROJECT_ROOT

KAFKA_VERSION = "4.4.0"
"""Version of ``org.apache.kafka:kafka_2.13``; passed to Maven, overriding the pom's default."""

POM = PROJECT_ROOT / "scripts" / "kafka" / "pom.xml"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "kafka"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
NODE_ID = 1
JVM_OPTS: tuple[str, ...] = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

_STATE_FILE = "local-kafka.json"
_PID_FILE = "kafka.pid"
_LOG_FILE = "server.log"
_LOG_DIR = "kraft-logs"
_START_HEADER = "=== pinpipe: starting Kafka"
_LOG4J = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def default_jar_dir(version: str = KAFKA_VERSION) -> Path:
    """Where :func:`fetch_kafka_jars` keeps the jars of one Kafka version by default."""
    return PROJECT_ROOT / "data" / "cache" / f"kafka-{version}" / "libs"


def _tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _log_report(path: Path, lines: int = 30) -> str:
    """What the last start wrote to a broker log: its ERROR and 'Caused by:' lines, then its tail."""
    if not path.is_file():
        return f"({path} does not exist)"
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 256 * 1024))
        text = handle.read().decode("utf-8", "replace")
    text = text[max(0, text.rfind(_START_HEADER)) :]
    causes: list[str] = []
    for line in text.splitlines():
        if (" ERROR " in line or line.startswith("Caused by:")) and line not in causes:
            causes.append(line)
    report = "causes:\n" + "\n".join(causes[:6]) + "\n" if causes else ""
    return f"{report}tail of {path}:\n{_tail(text, lines)}"


def fetch_kafka_jars(cache_dir: Path | None = None, version: str = KAFKA_VERSION) -> Path:
    """Copy the jars of Kafka ``version`` and its runtime dependencies into ``cache_dir`` with Maven
    (``scripts/kafka/pom.xml``), once; later calls return the cached folder at once."""
    return fetch_jars(
        POM,
        cache_dir or default_jar_dir(version),
        f"Kafka {version}",
        "kafka_2.13-*.jar",
        {"kafka.version": version},
    )


def new_cluster_id() -> str:
    """A random cluster id in Kafka's format: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka avoids these: they read as options on a command line
            return text


def java_executable() -> str:
    """The ``java`` of ``$JAVA_HOME`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise LocalServiceError("java is not on PATH: Kafka 4 needs Java 17 or newer")
    return java


@dataclass
class _State:
    """What a data directory remembers between starts."""

    cluster_id: str
    port: int
    controller_port: int
    node_id: int = NODE_ID
    version: str = KAFKA_VERSION

    @classmethod
    def load(cls, data_dir: Path) -> _State | None:
        """The state stored in ``data_dir``, or None for a new data directory."""
        path = data_dir / _STATE_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, data_dir: Path) -> None:
        """Write the state into ``data_dir``."""
        text = json.dumps(asdict(self), indent=2) + "\n"
        (data_dir / _STATE_FILE).write_text(text, encoding="utf-8")


def _probe(bootstrap: str, timeout: float) -> bool:
    """Whether a client can connect to ``bootstrap``, sees a live broker and the group coordinator.

    The offsets lookup of a group that does not exist creates ``__consumer_offsets`` on a new broker
    and fails while the coordinator still loads it after a restart (NOT_COORDINATOR, LOAD_IN_PROGRESS):
    once it answers, consumer groups and their committed offsets work at once.
    """
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=min(timeout, 1.0)):
            pass
    except OSError:
        return False
    # the kafka extra: the broker (Java) starts without it; asking it questions needs it
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = max(500, int(timeout * 1000))
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="pinpipe-local-kafka-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except (KafkaError, OSError):
        return False
    try:
        if not admin.describe_cluster().get("brokers"):
            return False
        admin.list_group_offsets({"pinpipe-local-kafka-probe": None})
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


class LocalKafka:
    """A single-node Kafka broker and controller on 127.0.0.1, with its state in ``data_dir``.

    Ports not given are the ones the data directory used before, else free ones. ``jars`` is a folder
    of Kafka's jars; by default :func:`fetch_kafka_jars` provides them at the first :meth:`start`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        jars: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.jars = jars
        self._proc: subprocess.Popen[bytes] | None = None
        state = _State.load(self.data_dir)
        if state is not None and controller_port not in (None, state.controller_port):
            raise LocalServiceError(
                f"{self.data_dir} was formatted with controller port {state.controller_port}, which the "
                f"KRaft metadata records; use it or a new data directory (asked for {controller_port})"
            )
        fresh = free_ports(2)
        self.port: int = port or (state.port if state else fresh[0])
        self.controller_port: int = controller_port or (state.controller_port if state else fresh[1])

    @property
    def bootstrap_servers(self) -> str:
        """The address clients bootstrap from, ``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        """The file that receives the broker's output."""
        return self.data_dir / _LOG_FILE

    @property
    def pid(self) -> int | None:
        """The pid of the running broker, or None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        return self._pid_from_file()

    def is_running(self) -> bool:
        """Whether a broker on this data directory runs (started here or by another process)."""
        return self.pid is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> Self:
        """Format the storage if new, launch the broker and wait until a client can use it.

        Does nothing if a broker already runs on this data directory. Raises
        :class:`LocalServiceError` with the tail of ``server.log`` if the broker exits or is not ready
        within ``timeout`` seconds (not counting a first fetch of the jars); it is killed then.
        """
        if self.is_running():
            state = _State.load(self.data_dir)
            self.port = state.port if state else self.port
            return self
        jars = fetch_kafka_jars(self.jars) if self.jars is None else self.jars.resolve()
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = self._prepare_state()
        config = self._write_config()
        if not (self.data_dir / _LOG_DIR / "meta.properties").is_file():
            self._format(jars, config, state.cluster_id, timeout)
        self._launch(jars, config)
        try:
            self._wait_ready(deadline, timeout)
        except BaseException:  # includes Ctrl-C: never leave a half-started broker behind
            self.kill()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker with SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds."""
        pid = self.pid
        if pid is not None:
            signal_group(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                signal_group(pid, signal.SIGKILL)
                self._wait_exit(pid, 10.0)
        self._proc = None
        (self.data_dir / _PID_FILE).unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the broker with SIGKILL, as a crash would; the pid file stays behind, as after a crash."""
        pid = self.pid
        if pid is not None:
            signal_group(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._proc = None

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout: float = 30.0) -> None:
        """Create the topics of ``names`` that do not exist yet, and wait until they have leaders."""
        from kafka import KafkaAdminClient  # kafka extra (see _probe)

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="pinpipe-local-kafka")
        try:
            missing = sorted(set(names) - set(admin.list_topics()))
            if missing:
                admin.create_topics(
                    {name: {"num_partitions": partitions, "replication_factor": 1} for name in missing},
                    timeout_ms=int(timeout * 1000),
                    wait_for_metadata=True,
                )
        finally:
            admin.close()

    def _pid_from_file(self) -> int | None:
        """The pid in the pid file if it is a live broker of this data directory, else None."""
        try:
            pid = int((self.data_dir / _PID_FILE).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        cmdline = command_line(pid)
        if cmdline is not None and (MAIN_CLASS not in cmdline or str(self.data_dir) not in cmdline):
            return None  # the pid was reused by another process
        return pid

    def _prepare_state(self) -> _State:
        """Load or create the data directory's state, recording the ports of this start."""
        state = _State.load(self.data_dir)
        if state is None:
            if (self.data_dir / _LOG_DIR / "meta.properties").is_file():
                raise LocalServiceError(
                    f"{self.data_dir} holds formatted Kafka storage but no {_STATE_FILE}: "
                    "delete the folder to start afresh"
                )
            state = _State(new_cluster_id(), self.port, self.controller_port)
        state.port = self.port
        state.save(self.data_dir)
        return state

    def _write_config(self) -> Path:
        """Write server.properties and log4j2.properties for this start; returns server.properties."""
        (self.data_dir / "log4j2.properties").write_text(_LOG4J, encoding="utf-8")
        path = self.data_dir / "server.properties"
        lines = [f"{key}={value}" for key, value in self._properties().items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _properties(self) -> dict[str, str]:
        """The broker configuration (see the module docstring for the choices)."""
        controller = f"{HOST}:{self.controller_port}"
        return {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{controller}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / _LOG_DIR),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "4000",
            "log.retention.ms": "-1",
            "log.retention.bytes": str(1024**3),
        }

    def _java_command(self, jars: Path, main_class: str, *args: str) -> list[str]:
        """A java command line running ``main_class`` on Kafka's jars."""
        return [
            java_executable(),
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            str(jars / "*"),
            main_class,
            *args,
        ]

    def _format(self, jars: Path, config: Path, cluster_id: str, timeout: float) -> None:
        """Format the KRaft storage as a standalone controller quorum (first start only)."""
        command = self._java_command(
            jars,
            STORAGE_TOOL,
            "format",
            "--config",
            str(config),
            f"--cluster-id={cluster_id}",
            "--standalone",
        )
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
        )
        with self.log_file.open("a", encoding="utf-8") as log:
            log.write(f"=== pinpipe: kafka-storage format ({time.strftime('%Y-%m-%d %H:%M:%S')}) ===\n")
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            output = _tail(result.stdout + result.stderr) or "(no output)"
            raise LocalServiceError(f"formatting Kafka storage failed (exit {result.returncode}):\n{output}")

    def _launch(self, jars: Path, config: Path) -> None:
        """Start the JVM in its own session, output appended to server.log, and write the pid file."""
        command = self._java_command(jars, MAIN_CLASS, str(config))
        with self.log_file.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            header = f"{_START_HEADER} {KAFKA_VERSION} on {self.bootstrap_servers} ({stamp}) ===\n"
            log.write(header.encode())
            log.flush()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        (self.data_dir / _PID_FILE).write_text(f"{self._proc.pid}\n", encoding="utf-8")

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        """Poll until a client can use the broker; raise if it exits or the deadline passes."""
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise LocalServiceError(
                    f"Kafka exited with code {code} during start-up; {_log_report(self.log_file)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalServiceError(
                    f"Kafka was not ready on {self.bootstrap_servers} within {timeout:.0f} s; "
                    + _log_report(self.log_file)
                )
            if _probe(self.bootstrap_servers, min(remaining, 5.0)):
                return
            time.sleep(0.2)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``pid`` to exit; returns whether it did."""
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        return wait_for_exit(pid, timeout)


@dataclass(frozen=True)
class BrokerStatus:
    """Whether a broker runs on a data directory, and where clients reach it."""

    running: bool
    pid: int | None
    bootstrap_servers: str | None

    def describe(self) -> str:
        """One line for people."""
        if self.running:
            return f"running (pid {self.pid}) at {self.bootstrap_servers}"
        return "not running"


def start_background(
    data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None, timeout: float = 60.0
) -> LocalKafka:
    """Start a detached broker on ``data_dir`` (it outlives this process) and wait until it is ready."""
    return LocalKafka(data_dir, port=port).start(timeout)


def stop_background(data_dir: Path = DEFAULT_DATA_DIR, timeout: float = 30.0) -> bool:
    """Stop the broker whose pid file is in ``data_dir``; returns whether one was running."""
    broker = LocalKafka(data_dir)
    running = broker.is_running()
    broker.stop(timeout)
    return running


def broker_status(data_dir: Path = DEFAULT_DATA_DIR) -> BrokerStatus:
    """The status of the broker of ``data_dir``, from its pid file and stored ports."""
    data_dir = Path(data_dir).expanduser().resolve()
    state = _State.load(data_dir)
    if state is None:
        return BrokerStatus(False, None, None)
    broker = LocalKafka(data_dir)
    return BrokerStatus(broker.pid is not None, broker.pid, broker.bootstrap_servers)
