"""A real SMTP server for tests: aiosmtpd in its own process, keeping every message as an ``.eml`` file.

Messages land in ``<folder>/<envelope sender>/``, so several live sites can share one
server and still read only their own mail (each site sends from its own address).
Run it as ``python -m tests.faults.smtpsink --port 2525 --folder /tmp/mail``; ``.ci/run``
does, for the suite's second run, and the fault tests start their own.
"""

import argparse
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mailbox_name(address):
    """A folder name for an envelope sender: the address itself, less anything unsafe in a path."""
    return re.sub(r"[^A-Za-z0-9@._-]", "_", address or "unknown").strip(".") or "unknown"


class SaveToFolder:
    """An aiosmtpd handler that writes each message atomically before answering 250."""

    def __init__(self, folder):
        self.folder = Path(folder)

    async def handle_DATA(self, server, session, envelope):
        box = self.folder / mailbox_name(envelope.mail_from)
        box.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S") + f"{time.time_ns() % 1_000_000_000:09d}"
        path = box / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.replace(path)
        return "250 Message accepted for delivery"


def serve(host, port, folder):
    """Run the server until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller

    controller = Controller(SaveToFolder(folder), hostname=host, port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"smtpsink listening on {host}:{port}, saving to {folder}", flush=True)
    stop.wait()
    controller.stop()


class SmtpSink:
    """Start and stop the sink as a child process (for tests that take SMTP away and bring it back)."""

    def __init__(self, port, folder):
        self.port = port
        self.folder = Path(folder)
        self.process = None

    def start(self, seconds=30):
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder.parent / f"smtpsink-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.smtpsink", "--port", str(self.port), "--folder", str(self.folder)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the SMTP sink exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the SMTP sink did not start in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.folder)


if __name__ == "__main__":
    main()
