"""Errors of the API, by layer. Only the HTTP layer (handlers.py) turns them into responses.

CryptostatsError
├── ApiError                      HTTP layer: has a status; rendered as {"error": message, ...}
│   ├── InvalidRequest (400)      missing, empty, repeated or malformed parameters
│   │   └── CoinNotTracked (400)  a coin the service does not track; the body lists the tracked ones
│   └── NoData (404)              a tracked coin with nothing stored yet
├── StoreUnavailable              store layer: the data store cannot be reached (HTTP: 503)
└── UpstreamError                 source layer: CoinGecko answered with something that is not data
"""

from __future__ import annotations

from typing import Any

from cryptostats.errors import CryptostatsError


class ApiError(CryptostatsError):
    """An error with an HTTP status and a JSON body."""

    status = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        return {"error": self.message, **self.extra}


class InvalidRequest(ApiError):
    """The request's parameters are missing or malformed."""

    status = 400


class CoinNotTracked(InvalidRequest):
    """The requested coin is not one the service tracks."""


class NoData(ApiError):
    """The coin is tracked but nothing has been stored for it yet."""

    status = 404


class StoreUnavailable(CryptostatsError):
    """The data store cannot be reached or did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamError(CryptostatsError):
    """CoinGecko failed or answered with something that is not market data."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.calls = 0
        """Upstream calls made by the fetch that failed, this one included."""
