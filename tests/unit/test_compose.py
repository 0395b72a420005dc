"""Check docker-compose.yml, the Dockerfiles and .env without a Docker engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

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

INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::([?-])([^}]*))?\}")
"""`${NAME}`, `${NAME:-default}` and `${NAME:?error}`: the forms this compose file uses."""

SECRETS = ("REDIS_PASSWORD", "MONGO_ROOT_PASSWORD", "MONGO_APP_PASSWORD", "MONGO_REPLICA_KEY")
"""Variables compose needs from the operator; `.env` leaves them empty."""

TEST_SECRETS = {name: f"test-{name.lower().replace('_', '-')}" for name in SECRETS}

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


def interpolate(text: str, values: dict[str, str]) -> str:
    """Apply Compose's variable interpolation; raise KeyError where `${NAME:?...}` is empty."""

    def replace(match: re.Match[str]) -> str:
        name, kind, argument = match.groups()
        value = values.get(name, "")
        if kind == "?" and not value:
            raise KeyError(f"{name}: {argument}")
        return value or (argument if kind == "-" else "")

    return INTERPOLATION.sub(replace, text)


def environment(service: dict[str, Any], values: dict[str, str] | None = None) -> dict[str, str]:
    """Return a service's `environment:` as a mapping, interpolated with test secrets."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    values = TEST_SECRETS if values is None else values
    return {
        name: interpolate("" if value is None else str(value), values)
        for name, value in env.items()
    }


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
        # Stale data is still served: the healthcheck requires only the store (serving mode).
        assert "http://127.0.0.1:3000/ready?mode=serving'" in command
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
    for name in ("api", "api-offline"):
        assert "redis" in healthy_dependencies(services[name])
        init = services[name]["depends_on"]["mongo-init"]
        assert init["condition"] == "service_completed_successfully", name
    assert "mongo" in healthy_dependencies(services["mongo-init"])
    assert "redis" in healthy_dependencies(services["worker"])
    assert {"api", "api-offline"} <= healthy_dependencies(services["proxy"])


def test_only_the_proxy_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert [interpolate(str(port), {}) for port in services["proxy"]["ports"]] == ["3000:8080"]
    for name in ("api", "api-offline"):
        env = environment(services[name])
        assert env["API_PORT"] == "3000" and env["API_HOST"] == "0.0.0.0", name
        assert "3000" in [str(port) for port in services[name]["expose"]]


def test_app_services_reach_backing_services_by_name(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "api-offline", "worker"):
        env = environment(services[name])
        assert urlparse(env["REDIS_URL"]).hostname == "redis", name
    for name in ("api", "api-offline"):
        assert urlparse(environment(services[name])["MONGO_URI"]).hostname == "mongo", name
    assert "MONGO_URI" not in environment(services["worker"]), "the worker needs no database"


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


# --- proxy, replicas, replica set, secrets, hardening (issue 15) -------------------------------

EXACT_IMAGE = re.compile(r"[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)?")
"""An image pinned to an exact version (`nginx:1.27.3-alpine`), never a moving tag."""

DOCKERFILE_BASE = re.compile(r"python:\d+\.\d+\.\d+-slim-[a-z]+")
"""The Dockerfiles' base image, pinned to an exact Python and Debian release."""


def limits(service: dict[str, Any]) -> dict[str, Any]:
    return dict(((service.get("deploy") or {}).get("resources") or {}).get("limits") or {})


@pytest.mark.parametrize(
    "name",
    ["proxy", "redis", "mongo", "mongo-2", "mongo-3", "mongo-init", "api", "api-offline", "worker",
     "coingecko-sim"],
)  # fmt: skip
def test_every_service_is_hardened(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    assert service.get("read_only") is True, f"{name}: read-only root filesystem"
    assert service.get("cap_drop") == ["ALL"], f"{name}: drop every capability"
    assert "no-new-privileges:true" in service.get("security_opt", []), name
    user = str(service.get("user", "0")).split(":")[0]
    assert user.isdigit() and int(user) != 0, f"{name}: runs as root"
    assert {"cpus", "memory", "pids"} <= limits(service).keys(), f"{name}: {limits(service)}"
    options = service["logging"]["options"]
    assert (
        service["logging"]["driver"] == "json-file" and options["max-size"] and options["max-file"]
    )
    for mount in service.get("tmpfs", []):
        assert "size=" in mount, f"{name}: bound the tmpfs {mount}"
    if "image" in service:
        assert EXACT_IMAGE.fullmatch(service["image"]), f"{name}: pin {service['image']} exactly"


@pytest.mark.parametrize("relative", sorted(APP_DOCKERFILES))
def test_dockerfile_bases_are_pinned(relative: str) -> None:
    bases = [
        args.split()[0] for keyword, args in instructions(ROOT / relative) if keyword == "FROM"
    ]
    assert bases and all(DOCKERFILE_BASE.fullmatch(base) for base in bases), bases


def test_api_replicas_sit_behind_the_proxy(
    services: dict[str, dict[str, Any]], dotenv: dict[str, str]
) -> None:
    for name in ("api", "api-offline"):
        api = services[name]
        assert interpolate(str(api["deploy"]["replicas"]), {}) == "2", "API_REPLICAS defaults to 2"
        assert interpolate(str(api["deploy"]["replicas"]), {"API_REPLICAS": "5"}) == "5"
        assert "api-upstream" in api["networks"]["frontend"]["aliases"]
    assert dotenv["API_REPLICAS"] == "2"
    assert environment(services["proxy"])["API_UPSTREAM"] == "api-upstream:3000"
    assert services["worker"]["deploy"]["replicas"] == 1, "exactly one worker"


def test_the_api_believes_only_the_proxys_address(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    import ipaddress

    proxy_ip = services["proxy"]["networks"]["frontend"]["ipv4_address"]
    subnet = compose["networks"]["frontend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_ip) in ipaddress.ip_network(subnet)
    for name in ("api", "api-offline"):
        assert environment(services[name])["TRUSTED_PROXIES"] == proxy_ip


def test_the_proxy_renders_the_one_template_the_tests_use(
    services: dict[str, dict[str, Any]],
) -> None:
    from cryptostats_dev.nginx import TEMPLATE, placeholders

    proxy = services["proxy"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in proxy["volumes"]}
    template = "./" + str(TEMPLATE.relative_to(ROOT))
    assert mounts[template] == "/etc/nginx/templates/cryptostats.conf.template"
    env = environment(proxy)
    assert placeholders() <= env.keys(), f"unset: {placeholders() - env.keys()}"
    # The image substitutes only variables matching this filter: every placeholder must, and no
    # nginx variable ($host, $remote_addr...) may be touched.
    assert all(re.search(env["NGINX_ENVSUBST_FILTER"], name) for name in placeholders())
    assert not re.search(env["NGINX_ENVSUBST_FILTER"], "HOSTNAME")
    assert mounts["./api-server/api_server/static"] == env["STATIC_ROOT"] + "/static"


def test_backing_services_are_on_an_internal_network_only(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("redis", "mongo", "mongo-2", "mongo-3", "worker"):
        assert services[name]["networks"] == ["backend"], name


def test_mongo_runs_a_replica_set_with_majority_writes(services: dict[str, dict[str, Any]]) -> None:
    for name in ("mongo", "mongo-2", "mongo-3"):
        command = " ".join(services[name]["command"])
        assert "--replSet rs0" in command and "--keyFile" in command, name
    assert services["mongo-2"]["profiles"] == services["mongo-3"]["profiles"] == ["ha"]
    assert not services["mongo"].get("profiles"), "one member by default"
    for name in ("api", "api-offline"):
        query = parse_qs(urlparse(environment(services[name])["MONGO_URI"]).query)
        assert query["replicaSet"] == ["rs0"], name
        assert query["w"] == ["majority"] and query["retryWrites"] == ["true"], name


def test_the_stack_initiates_its_replica_set_idempotently(
    services: dict[str, dict[str, Any]],
) -> None:
    init = services["mongo-init"]
    assert init["restart"] == "no"
    script_mount = next(volume for volume in init["volumes"] if volume.endswith(".js:ro"))
    script = (ROOT / script_mount.split(":")[0]).read_text(encoding="utf-8")
    assert script_mount.split(":")[1] in init["command"]
    assert "NotYetInitialized" in script and "rs.initiate(" in script, "initiate only once"
    assert "getUser(APP_USER) === null" in script, "create the user only once"
    for member in ("mongo-2", "mongo-3"):
        assert f'"{member}:27017"' in script
        assert init["depends_on"][member] == {"condition": "service_healthy", "required": False}


def test_secrets_come_from_the_operator_and_fail_safe(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], dotenv: dict[str, str]
) -> None:
    assert {spec["environment"] for spec in compose["secrets"].values()} == set(SECRETS)
    for name in SECRETS:
        assert dotenv[name] == "", f"{name} must stay empty in the committed .env"
    # An empty password stops `docker compose up` instead of starting an open Redis or MongoDB.
    for name in ("api", "api-offline", "worker"):
        with pytest.raises(KeyError, match="REDIS_PASSWORD"):
            environment(services[name], {**TEST_SECRETS, "REDIS_PASSWORD": ""})
    for name in ("api", "api-offline"):
        with pytest.raises(KeyError, match="MONGO_APP_PASSWORD"):
            environment(services[name], {**TEST_SECRETS, "MONGO_APP_PASSWORD": ""})
    assert "requirepass" in " ".join(services["redis"]["command"])
    assert "test -s /run/secrets/redis_password" in " ".join(services["redis"]["command"])
    assert "/run/secrets/redis_password" in " ".join(services["redis"]["healthcheck"]["test"])
    mongo_env = environment(services["mongo"])
    assert mongo_env["MONGO_INITDB_ROOT_PASSWORD_FILE"] == "/run/secrets/mongo_root_password"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in SECRETS:
        assert TEST_SECRETS[name] not in text
