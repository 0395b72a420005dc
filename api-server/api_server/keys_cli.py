"""`cryptostats-keys` (python -m api_server.keys_cli): create, list and revoke API keys.

It talks to the running API over HTTP with the admin key (ADMIN_API_KEY or ADMIN_API_KEY_FILE,
read from the environment like the API reads it), so it works the same whatever the store: the
embedded one lives inside the API process, and MongoDB is reached through the API too.

    cryptostats-keys create "alice's laptop"     # prints the key once
    cryptostats-keys list
    cryptostats-keys revoke 3f2a9c0d1e4b5a6c
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import requests

from api_server.access_config import AccessSettings
from cryptostats.errors import ConfigError

TIMEOUT_SECONDS = 10.0
"""How long one call to the API may take."""

EXIT_API_ERROR = 1
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None, *, session: Any = None) -> int:
    """Run one command; return the exit code (0 ok, 1 the API refused or failed, 2 config)."""
    args = _parser().parse_args(argv)
    try:
        admin_key = AccessSettings.from_env().admin_api_key
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not admin_key:
        print("configuration error: set ADMIN_API_KEY or ADMIN_API_KEY_FILE", file=sys.stderr)
        return EXIT_CONFIG
    http = session or requests.Session()
    headers = {"Authorization": f"Bearer {admin_key}"}
    base = args.url.rstrip("/")
    try:
        if args.command == "create":
            body = {"name": args.name, "role": "admin" if args.admin else "user"}
            resp = http.post(
                f"{base}/api/keys", json=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        elif args.command == "list":
            resp = http.get(f"{base}/api/keys", headers=headers, timeout=TIMEOUT_SECONDS)
        else:
            resp = http.delete(
                f"{base}/api/keys/{args.id}", headers=headers, timeout=TIMEOUT_SECONDS
            )
    except requests.RequestException as exc:
        print(f"cannot reach the API at {base}: {type(exc).__name__}", file=sys.stderr)
        return EXIT_API_ERROR
    return _report(args.command, resp)


def _report(command: str, resp: Any) -> int:
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text[:200]
        print(f"error {resp.status_code}: {message}", file=sys.stderr)
        return EXIT_API_ERROR
    if command == "create":
        created = resp.json()
        print(json.dumps(created, indent=2))
        print("Store the key now: it is never shown again.", file=sys.stderr)
    elif command == "list":
        for key in resp.json()["keys"]:
            print(f"{key['id']}  {key['role']:<5}  {key['createdAt']}  {key['name']}")
    else:
        print("revoked")
    return 0


def _parser() -> argparse.ArgumentParser:
    port = os.environ.get("API_PORT", "").strip() or "3000"
    parser = argparse.ArgumentParser(
        prog="cryptostats-keys", description="Create, list and revoke cryptostats API keys."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("CRYPTOSTATS_URL", "").strip() or f"http://127.0.0.1:{port}",
        help="the API's base URL (default: $CRYPTOSTATS_URL, else http://127.0.0.1:$API_PORT)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name", help="who or what the key is for")
    create.add_argument("--admin", action="store_true", help="an admin key (default: user)")
    commands.add_parser("list", help="list the live keys (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id, at once")
    revoke.add_argument("id", help="the key's id, as listed")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
