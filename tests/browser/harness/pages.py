"""Serves test pages from an origin of their own (another port than
Drift's), so every request a page makes to Drift is cross-origin and
`--cors-origin` is exercised as on a real site."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Every page can load the recorder (harness/recorder.js) from /recorder.js.
BLANK = b'<!doctype html><meta charset="utf-8"><title>drift test</title><script src="/recorder.js"></script>'


class PageServer:
    """A page server on 127.0.0.1 and a free port; `add` publishes a page."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {
            "/": ("text/html; charset=utf-8", BLANK),
            "/recorder.js": ("text/javascript", (HERE / "recorder.js").read_bytes()),
        }
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = pages.get(self.path.split("?", 1)[0])
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test's own output says what matters

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, path: str, html: str) -> str:
        """Serves `html` at `path` and returns the page's URL."""
        self.pages[path] = ("text/html; charset=utf-8", html.encode())
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
