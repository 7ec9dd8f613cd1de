"""Figure 3: a 1 GiB upload through the multipart API route and through tus, against a raw loopback copy.

Every transfer is made by curl, streaming the file from disk. The raw copy
sends the same bytes to ``bench.hello``'s ``/sink`` (reads the body, keeps
nothing) under the same gunicorn settings as the site, in the same run; the raw
copy to disk sends them to ``/sink-to-disk``, which writes them to a file on the
same disk as the site's storage, as any upload that is kept must.
While each upload runs, the gunicorn worker's VmRSS is sampled; its growth
over the value before the upload is the memory the upload costs, and its CPU
time (``/proc/<pid>/stat``) is what the upload costs the web tier: under load
the worker's CPU, not the disk, bounds an upload (decision 0023).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

from bench.common import MIB, Row, current_rss_bytes, quick
from bench.pages import BareSite
from bench.sites import ApiClient, live_site

FIGURE = "3 uploads"
THROUGHPUT_GOAL = 0.5
RSS_GOAL = 64 * MIB


def make_file(path: Path, size: int) -> Path:
    """``size`` bytes that don't compress (1 MiB of random bytes, repeated)."""
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        for _ in range(size // MIB):
            handle.write(block)
    return path


def worker_pid(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return int(children[0])


class RssSampler:
    """The highest VmRSS of a process while the block runs, sampled every 20 ms."""

    def __init__(self, pid: int):
        self.pid, self.start, self.peak = pid, current_rss_bytes(pid), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, current_rss_bytes(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (its threads, live and ended, included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """The CPU seconds a process spends while the block runs."""

    def __init__(self, pid: int):
        self.pid, self.seconds = pid, 0.0

    def __enter__(self):
        self.seconds = -cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc):
        self.seconds += cpu_seconds(self.pid)


def curl(*args: str) -> float:
    """Seconds the transfer took (curl's time_total); fails on an HTTP error.

    Dirty pages of the previous transfer are written out first (``os.sync``), so that no
    transfer pays for the disk writes of the one before it.
    """
    os.sync()
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-o", "/dev/null", "-w", "%{time_total}", *args],
                         capture_output=True, text=True, check=True, timeout=1800).stdout
    return float(out.strip())


def tus_create(site_url: str, token: str, collection: int, size: int, filename: str) -> str:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    metadata = f"filename {b64(filename)},collection_id {b64(str(collection))},name {b64('tus bench')}"
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-D", "-", "-o", "/dev/null", "-X", "POST",
                          "-H", f"Authorization: Token {token}", "-H", "Tus-Resumable: 1.0.0",
                          "-H", f"Upload-Length: {size}", "-H", f"Upload-Metadata: {metadata}",
                          f"{site_url}/api/uploads/"], capture_output=True, text=True, check=True).stdout
    location = re.search(r"^location:\s*(\S+)", out, re.I | re.M).group(1)
    return location if location.startswith("http") else site_url + location


def run() -> list[Row]:
    from tests.live import free_port

    size = (64 if quick() else 1024) * MIB
    label = f"{size // MIB} MiB"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as folder:
        path = make_file(Path(folder) / "big.nii", size)
        with live_site("redis", workers=0) as site:
            client = ApiClient(site)
            token = client.session.headers["Authorization"].split()[1]
            web = worker_pid(site.web.pid)
            bare = BareSite(free_port())
            try:
                bare_pid = worker_pid(bare.process.pid)
                with RssSampler(bare_pid) as raw_rss:
                    raw = curl("-X", "POST", "-T", str(path), bare.url + "sink")
                with CpuMeter(bare_pid) as stored_raw_cpu:
                    stored_raw = curl("-X", "POST", "-T", str(path), bare.url + "sink-to-disk")
            finally:
                bare.stop()
            with RssSampler(web) as multipart_rss, CpuMeter(web) as multipart_cpu:
                multipart = curl("-H", f"Authorization: Token {token}", "-F", f"file=@{path};filename=big.nii",
                                 "-F", "name=bench upload",
                                 f"{site.url}/api/collections/{client.collection}/images/")
            location = tus_create(site.url, token, client.collection, size, "big-tus.nii")
            with RssSampler(web) as tus_rss, CpuMeter(web) as tus_cpu:
                tus = curl("-X", "PATCH", "-T", str(path), "-H", f"Authorization: Token {token}",
                           "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
                           "-H", "Content-Type: application/offset+octet-stream", location)
    raw_rate = size / raw
    rows.append(Row(FIGURE, f"raw loopback copy, {label} (curl -> WSGI sink)", raw_rate, None, "MiB/s",
                    note=f"sink worker RSS growth {raw_rss.growth / MIB:.0f} MiB"))
    stored_rate = size / stored_raw
    rows.append(Row(FIGURE, f"raw copy to disk, {label} (curl -> WSGI sink writing a file)", stored_rate, None,
                    "MiB/s", note="the same disk as the site's storage"))
    gib = size / 2**30
    for what, seconds, sampler, cpu in ((f"multipart API upload, {label}", multipart, multipart_rss, multipart_cpu),
                                        (f"tus upload (one PATCH), {label}", tus, tus_rss, tus_cpu)):
        rate = size / seconds
        ratio = rate / raw_rate
        rows.append(Row(FIGURE, what, rate, raw_rate, "MiB/s", ratio, f">= {THROUGHPUT_GOAL:g}x raw",
                        ratio >= THROUGHPUT_GOAL, "ratio = ours / raw"))
        rows.append(Row(FIGURE, f"{what} against the raw copy to disk", rate, stored_rate, "MiB/s",
                        rate / stored_rate, note="ratio = ours / raw copy to disk"))
        rows.append(Row(FIGURE, f"{what}: web worker RSS growth", sampler.growth, None, "MiB", None,
                        f"<= {RSS_GOAL // MIB} MiB", sampler.growth <= RSS_GOAL,
                        f"{sampler.start / MIB:.0f} MiB before, peak {sampler.peak / MIB:.0f} MiB"))
        rows.append(Row(FIGURE, f"{what}: web worker CPU per GiB", cpu.seconds / gib, stored_raw_cpu.seconds / gib,
                        "s", cpu.seconds / stored_raw_cpu.seconds,
                        note="user + system, all threads; reference = the raw copy to disk's sink worker"))
    return rows
