"""A real S3-compatible server for tests: moto's server mode (moto[s3] + flask-cors) as a separate process."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


class MotoServer:
    """``moto_server`` in its own process; ``settings(bucket)`` gives the neurodrop settings that point at it."""

    def __init__(self, log_folder):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log_folder) / "moto.log"
        self.process = None

    def start(self, seconds=60):
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("moto_server did not start in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def settings(self, bucket):
        """The environment that selects S3 storage on this server (``webapp/config.py`` reads it)."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def storage(self, bucket, staging_dir):
        """An ``S3Storage`` on a fresh bucket of this server."""
        from webapp.storage import S3Storage

        storage = S3Storage(bucket, staging_dir=staging_dir, endpoint_url=self.url, region=REGION,
                            access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
        storage.create_bucket()
        return storage
