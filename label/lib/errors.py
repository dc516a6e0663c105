"""Bad requests answered with an HTTP 4xx and one sentence, instead of MONAI Label's bare 500.

MONAI Label's endpoints turn any exception into ``500 Internal Server Error``. The app raises these
instead (FastAPI answers an :class:`~fastapi.HTTPException` with its status and ``detail``), so a
client learns what was wrong with its request, and the server keeps serving.
"""

from __future__ import annotations

from fastapi import HTTPException


class RequestError(HTTPException):
    """A request the app cannot serve; ``detail`` names what is wrong and what to do."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"


def not_found(message: str) -> RequestError:
    """404: the request names an image, label or task that does not exist."""
    return RequestError(404, message)


def invalid(message: str) -> RequestError:
    """422: the request's data (an upload, a parameter) cannot be used."""
    return RequestError(422, message)


def conflict(message: str) -> RequestError:
    """409: the request is valid but the datastore's state does not allow it yet (e.g. no labels to train on)."""
    return RequestError(409, message)
