"""What the local provisioning needs from the operating system: free ports, stopping processes."""

import os
import signal
import socket
import subprocess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20, sig: int = signal.SIGTERM, pid: int | None = None) -> None:
    """Send `sig` (to `pid` if given, else to the process), wait `timeout` seconds, then kill."""
    try:
        os.kill(pid or proc.pid, sig)
    except OSError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
