"""The one family of errors a user can act on, each with the HTTP status it answers.

A service raises an ApplicationError (or a subclass) with a message fit to show as it is;
the API answers it as `{"detail": message}` with its status (config/api.py), and a page
that does not catch it renders it with that status (web.error_pages). This module imports
nothing, so storage backends, which import no app, derive their errors from it too.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A request that cannot be carried out, with a message for the user."""

    #: well-formed, but refused for what it asks
    status = 422

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
