"""Check docker-compose.yml, the Dockerfiles and .env without a Docker engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_FILE = ROOT / ".env"
COMPOSE_SCHEMA = ROOT.parent / "shared" / "reference" / "compose-spec.json"
SOURCE_DIRS = ("shared", "api-server", "worker-server")

ENV_READ = re.compile(r"""(?:\bget\(|\bgetenv\(|\benviron\[)\s*["']([A-Z][A-Z0-9_]*)["']""")
"""Matches `get("NAME"`, `env.get(`, `environ.get(`, `os.getenv(` and `os.environ["NAME"]`."""

SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL")
"""Variable names whose committed value must be empty."""

TOKEN_RUN = re.compile(r"[^\s,=:./?]{16,}")
"""A long run without separators; with letters and digits mixed it looks like a key or password."""

APP_DOCKERFILES = {
    "api-server/Dockerfile": "api_server",
    "worker-server/Dockerfile": "worker_server",
    "devtools/Dockerfile": "cryptostats_dev.simulator",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dotenv() -> dict[str, str]:
    return read_dotenv(ENV_FILE)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines, failing on duplicates and on lines of any other shape."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        assert match, f".env line {number} is not KEY=VALUE: {line!r}"
        name, value = match.groups()
        assert name not in values, f".env sets {name} twice"
        values[name] = value
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's `environment:` as a mapping, whichever form the file uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def healthy_dependencies(service: dict[str, Any]) -> set[str]:
    """Return the services this one waits for with `condition: service_healthy`."""
    depends = service.get("depends_on") or {}
    assert isinstance(depends, dict), "depends_on must be the long form, with conditions"
    return {
        name for name, spec in depends.items() if (spec or {}).get("condition") == "service_healthy"
    }


def dockerfile_of(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    if isinstance(build, dict):
        return str(Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile"))
    return None


def active_services(services: dict[str, dict[str, Any]], profiles: set[str]) -> set[str]:
    """Return the services Compose starts with these profiles active."""
    return {
        name
        for name, service in services.items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in filter(str.strip, logical):
        keyword, _, args = line.strip().partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


# --- schema -----------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(f"Compose schema not found at {COMPOSE_SCHEMA} (the ../shared/reference kit)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
    )


# --- structure --------------------------------------------------------------------------------


def test_the_stack_has_its_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"redis", "mongo", "api", "worker"} <= services.keys()


def test_backing_services_use_official_images(services: dict[str, dict[str, Any]]) -> None:
    assert re.fullmatch(r"redis:7[\w.-]*", services["redis"]["image"])
    assert re.fullmatch(r"mongo:7[\w.-]*", services["mongo"]["image"])


@pytest.mark.parametrize(
    "name", ["redis", "mongo", "api", "api-offline", "worker", "coingecko-sim"]
)
def test_service_has_a_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", f"{name}: use an exec-form CMD healthcheck"


def test_api_healthchecks_its_ready_endpoint_without_curl(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "api-offline"):
        healthcheck = services[name]["healthcheck"]
        command = " ".join(healthcheck["test"])
        assert "python" in command and "urllib" in command
        assert "http://127.0.0.1:3000/ready" in command
        # /ready may wait for a store ping (2.5 s) before answering 503.
        timeout = float(re.search(r"timeout=(\d+)", command).group(1))  # type: ignore[union-attr]
        assert timeout + 1 < int(healthcheck["timeout"].rstrip("s"))


def test_worker_healthchecks_its_heartbeat(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "worker_server.healthcheck",
    ]


def test_mongo_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["mongo"]["volumes"]
    assert "mongo-data:/data/db" in volumes
    assert "mongo-data" in compose["volumes"]


def test_services_wait_for_healthy_dependencies(services: dict[str, dict[str, Any]]) -> None:
    assert {"redis", "mongo"} <= healthy_dependencies(services["api"])
    assert "redis" in healthy_dependencies(services["worker"])


def test_api_publishes_port_3000_and_binds_it_inside_the_container(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "api-offline"):
        ports = [str(port) for port in services[name]["ports"]]
        assert any(port.endswith(":3000") for port in ports), f"{name}: {ports}"
        env = environment(services[name])
        assert env["API_PORT"] == "3000" and env["API_HOST"] == "0.0.0.0", name


def test_app_services_reach_backing_services_by_name(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "api-offline", "worker"):
        env = environment(services[name])
        assert urlparse(env["REDIS_URL"]).hostname == "redis", name
        assert urlparse(env["MONGO_URI"]).hostname == "mongo", name


def test_app_services_stop_gracefully(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "api-offline", "worker"):
        assert services[name].get("stop_grace_period"), f"{name}: set stop_grace_period"
        assert services[name].get("restart") == "unless-stopped", name


def test_default_run_starts_the_live_api_only(
    services: dict[str, dict[str, Any]], dotenv: dict[str, str]
) -> None:
    default_profiles = set(dotenv.get("COMPOSE_PROFILES", "").split(",")) - {""}
    started = active_services(services, default_profiles)
    assert {"redis", "mongo", "api", "worker"} <= started
    assert not {"coingecko-sim", "api-offline"} & started


def test_offline_profile_swaps_in_the_simulator(services: dict[str, dict[str, Any]]) -> None:
    started = active_services(services, {"offline"})
    assert {"redis", "mongo", "worker", "coingecko-sim", "api-offline"} <= started
    assert "api" not in started, "two APIs would fight over the host port and the ingest claim"
    assert dockerfile_of(services["coingecko-sim"]) == "devtools/Dockerfile"
    assert dockerfile_of(services["api-offline"]) == dockerfile_of(services["api"])


def test_offline_api_is_pointed_at_the_simulator(services: dict[str, dict[str, Any]]) -> None:
    api = services["api-offline"]
    upstream = urlparse(environment(api)["COINGECKO_API_URL"])
    assert upstream.hostname == "coingecko-sim"
    assert upstream.port == 8765
    assert environment(api)["COINGECKO_API_KEY"] == "", "never send the real key to the simulator"
    assert "coingecko-sim" in healthy_dependencies(api)
    assert "/ping" in " ".join(services["coingecko-sim"]["healthcheck"]["test"])


def test_every_build_dockerfile_exists(services: dict[str, dict[str, Any]]) -> None:
    dockerfiles = {dockerfile_of(service) for service in services.values()} - {None}
    assert dockerfiles == set(APP_DOCKERFILES)
    for dockerfile in dockerfiles:
        assert (ROOT / str(dockerfile)).is_file(), f"missing {dockerfile}"


@pytest.mark.parametrize("relative, module", sorted(APP_DOCKERFILES.items()))
def test_dockerfile_runs_as_non_root_with_exec_form_cmd(relative: str, module: str) -> None:
    steps = instructions(ROOT / relative)
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users, f"{relative}: no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"{relative}: runs as root"
    commands = [args for keyword, args in steps if keyword == "CMD"]
    assert commands, f"{relative}: no CMD"
    command = json.loads(commands[-1])  # shell form is not JSON and fails here
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    assert command[:3] == ["python", "-m", module]
    assert ("STOPSIGNAL", "SIGTERM") in steps
    install = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "-c constraints.txt" in install, f"{relative}: install with the pinned constraints"


def test_dockerignore_keeps_local_state_out_of_the_images() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".env"} <= ignored
    needed = {"pyproject.toml", "constraints.txt", "README.md", "shared", "api-server"}
    assert not needed & ignored


# --- .env -------------------------------------------------------------------------------------


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in SOURCE_DIRS:
        for source in (ROOT / folder).rglob("*.py"):
            names.update(ENV_READ.findall(source.read_text(encoding="utf-8")))
    return names


def test_the_scan_finds_the_settings_module_variables() -> None:
    names = variables_read_by_the_code()
    assert {"REDIS_URL", "MONGO_URI", "COINGECKO_API_KEY", "COINS", "LOG_LEVEL"} <= names


def test_every_variable_the_code_reads_is_in_dotenv(dotenv: dict[str, str]) -> None:
    names = variables_read_by_the_code()
    assert names, "found no environment reads under " + ", ".join(SOURCE_DIRS)
    assert not names - dotenv.keys(), f"missing from .env: {sorted(names - dotenv.keys())}"


def test_every_dotenv_variable_has_a_comment() -> None:
    lines = ENV_FILE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if re.match(r"[A-Z][A-Z0-9_]*=", line):
            assert index and lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_dotenv_leaves_laptop_defaults_for_compose_to_override(dotenv: dict[str, str]) -> None:
    assert dotenv["MONGO_URI"] == "", "empty MONGO_URI keeps the embedded store on a laptop"
    assert urlparse(dotenv["REDIS_URL"]).hostname in (None, "localhost", "127.0.0.1")


def secret_problems(values: dict[str, str]) -> list[str]:
    """Name the variables whose values look secret: keys, passwords, URIs with credentials."""
    problems = []
    for name, value in values.items():
        if SECRET_NAME.search(name) and value:
            problems.append(f"{name} must be empty in the committed .env")
        for run in TOKEN_RUN.findall(value):
            if re.search(r"[0-9]", run) and re.search(r"[A-Za-z]", run):
                problems.append(f"{name} looks like it holds a key or password")
        parsed = urlparse(value)
        if parsed.scheme and parsed.netloc and (parsed.username or parsed.password):
            problems.append(f"{name} carries credentials")
    return problems


def test_dotenv_holds_no_secret(dotenv: dict[str, str]) -> None:
    assert dotenv["COINGECKO_API_KEY"] == ""
    assert not secret_problems(dotenv)


@pytest.mark.parametrize(
    "name, value",
    [
        ("COINGECKO_API_KEY", "CG-abc"),
        ("SOME_SETTING", "CG-4fTz9QbLkR2mWx7yN1pVs8Jd"),
        ("SOME_SETTING", "s3cr3tPassw0rdThatIsLong!x"),
        ("MONGO_URI", "mongodb://admin:pw@mongo:27017"),
    ],
)
def test_secret_check_flags_keys_and_credentials(name: str, value: str) -> None:
    assert secret_problems({name: value})
