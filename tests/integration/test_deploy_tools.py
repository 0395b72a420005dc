"""The deployment files through real linters run as subprocesses: hadolint and checkov.

Every finding is fixed or waived in the file itself with a reason (checkov annotations
`checkov.io/skipN: CHECK=reason` on Kubernetes objects, `# checkov:skip=CHECK: reason` comments).
The static checks of the same files are in tests/unit/test_deploy.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("api-server/Dockerfile", "worker-server/Dockerfile", "devtools/Dockerfile")


def tool(name: str) -> str:
    """Return a tool installed beside this interpreter (.venv/bin), or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make install`")
    return found


# --- hadolint ---------------------------------------------------------------------------------


def hadolint(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [tool("hadolint"), "--format", "json", "--failure-threshold", "none", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return findings


@pytest.mark.parametrize("relative", DOCKERFILES)
def test_hadolint_finds_nothing_in_the_dockerfiles(relative: str) -> None:
    findings = hadolint(ROOT / relative)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_report_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    codes = {finding["code"] for finding in hadolint(bad)}
    assert {"DL3007", "DL3008"} <= codes, codes


# --- checkov (one run over everything: it takes several seconds) ------------------------------


def checkov_binary() -> str:
    found = ROOT / ".venv-checkov" / "bin" / "checkov"
    if found.exists():
        return str(found)
    on_path = shutil.which("checkov")
    if on_path is None:
        pytest.fail("checkov is not installed: run `make install` (it makes .venv-checkov)")
    return on_path


def test_checkov_passes_kubernetes_dockerfiles_and_secrets() -> None:
    folders = ["deploy", "api-server", "worker-server", "devtools"]
    cmd = [checkov_binary(), "--framework", "kubernetes", "dockerfile", "secrets"]
    cmd += [arg for folder in folders for arg in ("-d", folder)]
    cmd += ["-f", "docker-compose.yml", "-f", ".env"]
    cmd += ["--compact", "--quiet", "--skip-download"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for framework in ("kubernetes", "dockerfile", "secrets"):
        assert f"{framework} scan results" in done.stdout, f"checkov did not scan {framework}"
    assert not re.search(r"Failed checks: [1-9]", done.stdout)
