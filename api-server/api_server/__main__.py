"""`python -m api_server`: validate settings, then become gunicorn serving the app factory."""

from __future__ import annotations

import os
import sys

from api_server.access_config import load_access_or_exit
from cryptostats.startup import load_settings_or_exit


def main() -> None:
    """Exit 2 on a bad setting; otherwise replace this process with gunicorn."""
    load_settings_or_exit()
    load_access_or_exit()
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:api_server.gunicorn_conf"]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
