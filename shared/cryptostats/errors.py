"""Exceptions shared by both processes.

CryptostatsError
└── ConfigError      a setting is missing or malformed; the process exits with code 2
"""

from __future__ import annotations


class CryptostatsError(Exception):
    """Base class of the project's own errors."""


class ConfigError(CryptostatsError):
    """A configuration variable holds a value that is not allowed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem
