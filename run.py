"""Development entry point: migrate, then run the web server and one Celery worker until Ctrl-C.

Used by ``make run`` on the embedded defaults (SQLite, kombu's SQL broker, the
outbox folder); honours every setting of ``webapp/config.py`` from the environment.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def run_migrations():
    subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "db", "upgrade"], cwd=ROOT, check=True)


def start_worker():
    """One worker with the periodic sweep (-B) built in, its schedule kept in the instance folder."""
    instance = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))
    instance.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "-B", "--loglevel=INFO",
         "--concurrency=1", "--hostname=worker@%h", f"--schedule={instance / 'celerybeat-schedule'}"],
        cwd=ROOT,
    )


def start_web(host, port):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "webapp", "run", "--host", host, "--port", str(port), "--no-reload"],
        cwd=ROOT,
    )


def wait_until_up(url, process, seconds=60):
    """Whether the site answered before the deadline (False if the server died first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def main():
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    run_migrations()
    processes = [start_worker(), start_web(host, port)]
    try:
        if wait_until_up(url, processes[1]):
            print(f"\n  neurodrop is running at {url}  (Ctrl-C stops it)\n", flush=True)
        else:
            print("the web server did not start; see the messages above", file=sys.stderr)
            return 1
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
