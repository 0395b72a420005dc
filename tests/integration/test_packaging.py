"""The production wheel, built and installed as the API and worker images do, has no dev tool.

No Docker engine runs here, so this builds the wheel those images install (`pip install .` of the
root pyproject.toml), installs it into a fresh virtual environment and checks what is in it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_PACKAGES = {"cryptostats", "api_server", "worker_server"}
DEV_ONLY = {"cryptostats-dev", "fakeredis"}
"""Distributions a production image must not carry."""

IMPORT_EVERY_MODULE = """
import importlib, importlib.util, pkgutil, sys
loaded = []
for name in ("cryptostats", "api_server", "worker_server"):
    package = importlib.import_module(name)
    assert package.__file__.startswith(sys.prefix), (name, package.__file__)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
        loaded.append(module.name)
assert importlib.util.find_spec("cryptostats_dev") is None, "cryptostats_dev is importable"
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("cryptostats_dev", "fakeredis"))
assert not leaked, leaked
print(len(loaded))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the production wheel from the repository root, as `pip install .` does."""
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-q", "-w", str(out), str(ROOT)], check=True, timeout=120)
    [built] = out.glob("cryptostats-*.whl")
    return built


def wheel_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode("utf-8")


def runtime_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist entries that a plain `pip install .` installs (no extras)."""
    lines = wheel_text(wheel, ".dist-info/METADATA").splitlines()
    found = [
        Requirement(line.partition(":")[2]) for line in lines if line.startswith("Requires-Dist:")
    ]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution those requirements install, transitively (from this environment)."""
    seen: set[str] = set()
    todo = [r.name for r in requirements]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_the_wheel_ships_only_the_production_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == PRODUCTION_PACKAGES
    entry_points = wheel_text(wheel, ".dist-info/entry_points.txt")
    assert "cryptostats-api" in entry_points and "cryptostats-worker" in entry_points
    assert "cryptostats_dev" not in entry_points and "coingecko-sim" not in entry_points


def test_the_runtime_dependencies_hold_no_dev_tool(wheel: Path) -> None:
    names = {canonicalize_name(r.name) for r in runtime_requirements(wheel)}
    assert "flask" in names and "gunicorn" in names
    assert not names & DEV_ONLY
    assert not closure(runtime_requirements(wheel)) & DEV_ONLY


def test_every_third_party_import_of_production_is_a_runtime_dependency(wheel: Path) -> None:
    imported: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".py"):
                imported |= top_level_imports(archive.read(name).decode("utf-8"))
    third_party = imported - set(sys.stdlib_module_names) - PRODUCTION_PACKAGES
    providers = metadata.packages_distributions()
    installed = closure(runtime_requirements(wheel))
    for module in sorted(third_party):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists & installed, f"production imports {module} ({dists}), not a runtime dependency"


def top_level_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.fixture(scope="module")
def production_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed; third-party packages come from this environment.

    The Dockerfiles run `pip install -c constraints.txt .`, which downloads the runtime
    dependencies; with no index here, this environment's site-packages stands in for them (as a
    plain path entry, so the editable installs of the checkout it holds are not seen).
    """
    home = tmp_path_factory.mktemp("prod-venv")
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*pip, "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield python


def test_production_imports_every_module_without_dev_tools(production_venv: Path) -> None:
    done = subprocess.run(
        [str(production_venv), "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=production_venv.parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 20  # every module of the three packages was imported


@pytest.mark.parametrize("dockerfile", ["api-server/Dockerfile", "worker-server/Dockerfile"])
def test_production_dockerfiles_install_only_the_root_project(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text(encoding="utf-8")
    assert "COPY devtools" not in text
    assert "RUN pip install --no-cache-dir -c constraints.txt .\n" in text


def test_the_simulator_image_installs_the_dev_tools() -> None:
    text = (ROOT / "devtools/Dockerfile").read_text(encoding="utf-8")
    assert "RUN pip install --no-cache-dir -c constraints.txt . ./devtools\n" in text
