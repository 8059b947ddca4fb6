"""A real HTTP server on 127.0.0.1 for the tests: serves a folder with byte-range requests (as object stores do)
and counts the bytes it sends per file, so a test can check that a windowed read fetched only part of a file."""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeHandler(SimpleHTTPRequestHandler):
    """GET and HEAD with ``Range: bytes=a-b``; every byte of a body sent is counted in ``server.sent``."""

    def log_message(self, *args) -> None:  # quiet
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "not found")
            return None
        size = path.stat().st_size
        start, end = 0, size - 1
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start = max(0, size - int(match[2]))
            if start > end:
                self.send_error(416, "range not satisfiable")
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._range = (path, start, end)
        return open(path, "rb")  # noqa: SIM115 (closed by the base class after copyfile)

    def copyfile(self, source, outputfile) -> None:
        path, start, end = self._range
        source.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)
            with self.server.lock:
                self.server.sent[path.name] += len(chunk)
        with self.server.lock:
            self.server.requests[path.name] += 1


class FileServer:
    """``with FileServer(root) as server``: ``server.url(name)`` is the file's URL; ``server.sent[name]`` the bytes
    sent of it, ``server.requests[name]`` the GET requests answered."""

    def __init__(self, root: Path) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
        self.httpd.sent, self.httpd.requests, self.httpd.lock = Counter(), Counter(), threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def sent(self) -> Counter:
        return self.httpd.sent

    @property
    def requests(self) -> Counter:
        return self.httpd.requests

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"
