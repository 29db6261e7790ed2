"""Apache Kafka (KRaft, one node) from Kafka's own jars, resolved by Maven from Maven Central."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provision.errors import ProvisionError
from provision.system import free_port, port_in_use, stop_process

POM = Path(__file__).with_name("kafka-pom.xml")
KAFKA_VERSION = "3.9.1"  # keep in step with kafka-pom.xml
START_TIMEOUT_S = 90

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
"""

LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


def cache_dir() -> Path:
    root = os.environ.get("CLUSNET_CACHE") or os.path.join(Path.home(), ".cache", "clusnet")
    return Path(root) / f"kafka-{KAFKA_VERSION}"


def kafka_libs() -> Path:
    """The folder of Kafka's runtime jars, resolved once by Maven into the cache."""
    libs = cache_dir() / "libs"
    marker = cache_dir() / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise ProvisionError(
            "Kafka: Maven (mvn) is not installed; install it (apt-get install maven) or set KAFKA_BOOTSTRAP_SERVERS"
        )
    if not shutil.which("java"):
        raise ProvisionError(
            "Kafka: Java is not installed; install Java 17 (apt-get install openjdk-17-jre-headless) "
            "or set KAFKA_BOOTSTRAP_SERVERS"
        )
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={libs}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProvisionError(
            f"Kafka: Maven could not resolve Kafka's jars from Maven Central:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    marker.touch()
    return libs


def _cluster_id() -> str:
    """A 22-character base64url UUID; never one starting with '-', which the tool reads as an option."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


class KafkaProcess:
    """A one-node KRaft broker on loopback that can be stopped and started again on its data."""

    def __init__(self, port: int | None = None, proxied: tuple[int, int] | None = None) -> None:
        """`proxied` = (listen port, advertised port): a second listener whose clients are told to
        connect to the advertised port, where a TCP proxy (the fault harness's) forwards to it."""
        if port is not None and port_in_use(port):
            raise ProvisionError(
                f"Kafka: port {port} on 127.0.0.1 is already taken; stop what uses it or set KAFKA_BOOTSTRAP_SERVERS"
            )
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="clusnet-kafka-"))
        self.props = self.workdir / "server.properties"
        controller_port = free_port()
        props = SERVER_PROPERTIES.format(port=self.port, controller_port=controller_port, data=self.workdir / "data")
        if proxied is not None:  # later keys override earlier ones in a .properties file
            props += (
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port},"
                f"PROXIED://127.0.0.1:{proxied[0]}\n"
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},PROXIED://127.0.0.1:{proxied[1]}\n"
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT\n"
            )
        self.props.write_text(props)
        (self.workdir / "log4j.properties").write_text(LOG4J)
        self.java = [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            f"{kafka_libs()}/*",
        ]
        fmt = subprocess.run(
            [*self.java, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(self.props)],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise ProvisionError(f"Kafka: formatting the KRaft storage failed:\n{fmt.stdout[-2000:]}{fmt.stderr[-2000:]}")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log_path = self.workdir / "kafka.log"
        log_path.unlink(missing_ok=True)
        with open(log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                [*self.java, "kafka.Kafka", str(self.props)], stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_started(self.proc, log_path)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=30)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no controlled shutdown, the data directory stays as it was."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def local_kafka(port: int | None = None) -> Iterator[str]:
    """Start a one-node KRaft broker on loopback; yield its bootstrap address; stop and remove it."""
    broker = KafkaProcess(port)
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        broker.remove()


def _wait_started(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "Kafka Server started" in text:
            return
        if proc.poll() is not None:
            raise ProvisionError(f"Kafka: the broker exited with code {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise ProvisionError(
        f"Kafka: the broker did not start within {START_TIMEOUT_S}s:\n{log_path.read_text(errors='replace')[-3000:]}"
    )
