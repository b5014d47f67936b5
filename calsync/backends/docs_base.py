"""Moved to :mod:`calsync.backends.base`; kept so branches written against it still import."""

from calsync.backends.base import (
    POLL_EVERY,
    DocBackend,
    DocRef,
    DocRequest,
    mark_polled,
    polled_recently,
)

__all__ = ["POLL_EVERY", "DocBackend", "DocRef", "DocRequest", "mark_polled", "polled_recently"]
