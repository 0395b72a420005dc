"""wrk for `make bench`: install it when missing, run it pinned to its cores, read its output."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from cryptostats_dev.bench_results import Config, WrkResult


def ensure_wrk() -> str:
    """Return the path of wrk, installing the Debian package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    steps = [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]]
    print("wrk is not installed; installing the Debian package:", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in steps:
        print("  $ " + shlex.join(step), flush=True)
        try:
            subprocess.run(step, check=True, env=env)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"cannot install wrk ({exc}); install it yourself (apt-get install wrk) and rerun"
            ) from None
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("apt-get reported success but wrk is still not on PATH")
    return found


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str, command: str) -> WrkResult:
    """Read req/s, p50 and p99 from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:\s+(.+)", output)
    return WrkResult(
        command=command,
        requests_per_second=float(rps.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        bad_responses=int(bad.group(1)) if bad else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


def pinned(cmd: list[str], role: str) -> list[str]:
    """Run the API (role "api") on core 0 and wrk (role "load") on the other cores.

    On a machine with fewer than 2 cores or without taskset, return cmd unchanged.
    """
    taskset = shutil.which("taskset")
    count = os.cpu_count() or 1
    if taskset is None or count < 2:
        return cmd
    cores = "0" if role == "api" else f"1-{count - 1}"
    return ["taskset", "-c", cores, *cmd]


def run_wrk(
    wrk: str,
    url: str,
    config: Config,
    duration: int | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Run wrk against one URL on loopback and return what it measured."""
    seconds = duration or config.duration
    extra = [part for name, value in (headers or {}).items() for part in ("-H", f"{name}: {value}")]
    cmd = pinned(
        [
            wrk,
            f"-t{config.threads}",
            f"-c{config.connections}",
            f"-d{seconds}s",
            "--latency",
            *extra,
            url,
        ],
        "load",
    )
    shown = shlex.join([Path(part).name if part in (wrk,) else part for part in cmd])
    print(f"  $ {shown}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout, shown)
