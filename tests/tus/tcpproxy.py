"""A TCP proxy that counts the bytes a client sends and can cut the connection after N of them.

It stands between a tus client and the live site, so a test can drop a
connection mid-PATCH at a known point, and tell how much was sent in all.
"""

import contextlib
import socket
import threading

BUFFER = 256 * 1024


class DroppingProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sent_upstream = 0
        self.drop_after = None
        self.dropped = threading.Event()
        self._lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_once_after(self, n_bytes):
        """Cut the connection carrying the byte that makes the total sent pass ``n_bytes``."""
        self.drop_after = n_bytes

    def _accept(self):
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pair = (client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream, pair, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair, False), daemon=True).start()

    def _pump(self, source, target, pair, counts):
        try:
            while True:
                data = source.recv(BUFFER)
                if not data:
                    break
                if counts and self._count(len(data)):
                    target.sendall(data)
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _count(self, n_bytes):
        """Add to the total; True when this connection is to be cut now."""
        with self._lock:
            self.sent_upstream += n_bytes
            if self.drop_after is not None and self.sent_upstream >= self.drop_after:
                self.drop_after = None
                self.dropped.set()
                return True
        return False

    def close(self):
        self._closing = True
        with contextlib.suppress(OSError):
            self.listener.close()
