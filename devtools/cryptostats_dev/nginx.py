"""Debian's nginx in front of API processes, configured from deploy/nginx's one template.

The template is the http-level part of the configuration that compose also uses (the official
image renders it with envsubst); here it is rendered with the same `${NAME}` placeholders and
wrapped in a small main configuration of our own: its own prefix folder, pid file, temp folders
and error log, no daemon, so the proxy is a child process that `stop()` ends.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Self

from cryptostats_dev.procs import LOCALHOST, ManagedProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (this file is devtools/cryptostats_dev/nginx.py)."""

TEMPLATE = ROOT / "deploy" / "nginx" / "cryptostats.conf.template"
"""The one proxy configuration, shared with docker-compose.yml."""

STATIC_ROOT = ROOT / "api-server" / "api_server"
"""The folder holding the dashboard's static/ folder (copied into the prefix)."""

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
"""A `${NAME}` placeholder, which envsubst and string.Template both replace."""

START_TIMEOUT = 10.0
"""Seconds nginx gets to listen."""

MAIN_CONFIG = """\
${user}daemon off;
master_process on;
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
    include ${mime_types};
    default_type application/octet-stream;
    log_format timed '$$msec $$request_time $$upstream_cache_status $$status $$request_uri';
    access_log ${access_log};
    client_body_temp_path ${prefix}/tmp/body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
    include ${prefix}/cryptostats.conf;
}
"""


class NginxMissing(FileNotFoundError):
    """nginx is not installed."""


def nginx_binary() -> str:
    """Return the path of nginx, raising NginxMissing when it is not installed."""
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).is_file()),
        None,
    )
    if found is None:
        raise NginxMissing("nginx is not installed: run `sudo make system-deps`")
    return found


def render(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """Fill the template's `${NAME}` placeholders; fail on any placeholder left unset."""
    text = template.read_text(encoding="utf-8")
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    if missing:
        raise KeyError(f"no value for the template's placeholders: {sorted(missing)}")
    return Template(text).safe_substitute(values)


def placeholders(template: Path = TEMPLATE) -> set[str]:
    """Return the names of the template's `${NAME}` placeholders."""
    return set(PLACEHOLDER.findall(template.read_text(encoding="utf-8")))


class NginxProxy(ManagedProcess):
    """nginx on 127.0.0.1 in front of one upstream, from the shared template, in a temp prefix."""

    def __init__(
        self,
        upstream: str,
        *,
        port: int | None = None,
        conn_per_client: int = 256,
        read_timeout: str = "15s",
        workers: int = 1,
        access_log: bool = False,
        overrides: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="cryptostats-nginx-"))
        self._remove_prefix = weakref.finalize(self, shutil.rmtree, self.prefix, ignore_errors=True)
        self.port = port if port is not None else free_port()
        for folder in ("tmp", "cache"):
            (self.prefix / folder).mkdir()
        # A copy, as compose mounts it: nginx's workers (nobody, when run as root) may not be able
        # to read the checkout itself (a home folder of mode 0700, say).
        shutil.copytree(STATIC_ROOT / "static", self.prefix / "static")
        user = _worker_user(self.prefix)
        self.values = {
            "PROXY_LISTEN_PORT": f"{LOCALHOST}:{self.port}",
            "API_UPSTREAM": upstream,
            "STATIC_ROOT": str(self.prefix),
            "PROXY_CACHE_DIR": str(self.prefix / "cache"),
            "PROXY_CONN_PER_CLIENT": str(conn_per_client),
            "PROXY_READ_TIMEOUT": read_timeout,
            **(overrides or {}),
        }
        (self.prefix / "cryptostats.conf").write_text(render(self.values), encoding="utf-8")
        main = Template(MAIN_CONFIG).substitute(
            user=f"user {user};\n" if user else "",
            workers=str(workers),
            prefix=str(self.prefix),
            mime_types=_mime_types(),
            access_log=f"{self.prefix}/access.log timed" if access_log else "off",
        )
        self.config = self.prefix / "nginx.conf"
        self.config.write_text(main, encoding="utf-8")
        binary = nginx_binary()
        self._test_cmd = [binary, "-t", "-q", "-p", str(self.prefix), "-c", str(self.config)]
        super().__init__(
            [binary, "-p", str(self.prefix), "-c", str(self.config)],
            name="nginx",
            log_path=self.prefix / "stdout.log",
            start=False,
        )
        if start:
            self.start()

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://{LOCALHOST}:{self.port}"

    def check(self) -> subprocess.CompletedProcess[str]:
        """Run `nginx -t` on this configuration and return its outcome."""
        return subprocess.run(self._test_cmd, capture_output=True, text=True, timeout=30)

    def start(self) -> Self:
        """Start nginx and wait until it listens; a no-op if it is running."""
        if self.alive:
            return self
        super().start()
        wait_for_port(LOCALHOST, self.port, START_TIMEOUT, process=self)
        return self

    def error_log(self) -> str:
        """Return nginx's error log so far."""
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """Return the end of nginx's error log (what it says when it fails to start)."""
        return "\n".join((super().log_tail(lines) + "\n" + self.error_log()).splitlines()[-lines:])

    def cleanup(self) -> None:
        """Stop nginx and remove its prefix folder."""
        self.stop()
        self._remove_prefix()


def _worker_user(prefix: Path) -> str | None:
    """As root, run nginx's workers as `nobody` and let them write cache and temp files."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    prefix.chmod(0o755)
    for folder in ("tmp", "cache"):
        os.chown(prefix / folder, nobody.pw_uid, nobody.pw_gid)
    return f"nobody {grp.getgrgid(nobody.pw_gid).gr_name}"


def _mime_types() -> str:
    for candidate in ("/etc/nginx/mime.types", "/usr/local/nginx/conf/mime.types"):
        if Path(candidate).is_file():
            return candidate
    raise NginxMissing("nginx's mime.types was not found under /etc/nginx")
