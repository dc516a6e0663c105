"""MONAI Label's server with hccp53's OHIF configuration (``label/ohif/app-config.js``).

``make viewer`` starts MONAI Label with ``--uvicorn_app lib.ohif:app``: the same FastAPI app as
``monailabel.app:app``, except that a ``GET`` of ``/ohif/app-config.js`` answers with this repository's OHIF
configuration instead of the one bundled with MONAI Label's OHIF build. That one loads study metadata eagerly,
and this OHIF build then gives the encapsulated PDF no URL to fetch it from (docs/viewer.md, known limits).

Every other request, and the server's startup and shutdown, go to MONAI Label untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monailabel.app import app as monailabel_app
from monailabel.config import settings

CONFIG = Path(__file__).resolve().parents[1] / "ohif" / "app-config.js"
PATH = f"{settings.MONAI_LABEL_API_STR}/ohif/app-config.js"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI entry point: the OHIF configuration here, everything else MONAI Label's."""
    if scope["type"] == "http" and scope["path"] == PATH and scope["method"] in ("GET", "HEAD"):
        body = CONFIG.read_bytes()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/javascript"),
                                (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-cache")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
        return
    await monailabel_app(scope, receive, send)
