"""The Google API discovery documents google-api-python-client ships (no request to fetch them)."""

from __future__ import annotations

import json
from typing import Any

from calsync.errors import ProviderError


def discovery(api: str, version: str, api_url: str | None) -> dict[str, Any]:
    """The API's discovery document, pointed at ``api_url`` when one is set (a loopback fake)."""
    from googleapiclient.discovery_cache import get_static_doc

    raw = get_static_doc(api, version)
    if raw is None:  # pragma: no cover - shipped with the library
        raise ProviderError(f"no discovery document for {api} {version}")
    doc: dict[str, Any] = json.loads(raw)
    if api_url:
        doc["rootUrl"] = api_url.rstrip("/") + "/"
    return doc
