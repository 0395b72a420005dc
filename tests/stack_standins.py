"""Stand-ins for the children of a Stack: a tiny HTTP server and python one-liners."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from cryptostats_dev.lab import Commands
from cryptostats_dev.procs import free_port
from cryptostats_dev.stack import Console, Stack

# Answers 200 {"status":"OK"} on every path, on the port given or API_PORT; prints chosen env vars.
FAKE_SERVER = """
import http.server, os, sys
port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["API_PORT"])
for name in ("REDIS_URL", "COINGECKO_API_URL", "UPDATE_INTERVAL_SECONDS"):
    print(f"{name}={os.environ.get(name)}", flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"OK"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""
SLEEPER = "print('worker up', flush=True); import time; time.sleep(60)"
DIES = "import time; time.sleep(0.5); raise SystemExit(3)"


@pytest.fixture
def fake_server(tmp_path: Path) -> Path:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    return script


def make_stack(
    fake_server: Path, *, worker: str = SLEEPER, demo: bool = False, **env: str
) -> tuple[Stack, io.StringIO]:
    output = io.StringIO()
    environ = {"API_HOST": "127.0.0.1", "API_PORT": str(free_port()), **env}
    commands = Commands(
        api=[sys.executable, str(fake_server)],
        worker=[sys.executable, "-c", worker],
        simulator=lambda port: [sys.executable, str(fake_server), str(port)],
    )
    stack = Stack(
        environ=environ,
        demo=demo,
        console=Console(output),
        commands=commands,
        which=lambda _name: None,  # the embedded broker: no redis-server needed
    )
    return stack, output
