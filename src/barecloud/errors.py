"""Every error barecloud raises on purpose derives from :class:`BarecloudError`.

The API layer turns them into the error body of the OpenStack service that was
called, with ``code`` as the HTTP status; anything else reaching a handler is a
bug and answers 500.  Retryable errors carry a delay so the conductor can back
off instead of failing a node at the first hiccup of a BMC.

    BarecloudError (500)
    ├── ClientError (400)
    │   ├── InvalidParameter (400)
    │   ├── Unauthorized (401)       no valid credentials (an unknown, expired or revoked token)
    │   ├── NotFound (404)
    │   ├── Forbidden (403)
    │   ├── Conflict (409)
    │   │   ├── Duplicate (409)
    │   │   ├── NodeLocked (409)
    │   │   ├── NodeChanged (409)
    │   │   └── InvalidState (409)
    │   └── NotAcceptable (406)
    └── DriverError (500)            hardware said no; recorded as last_error
        ├── PermanentDriverError     do not retry (bad credentials, refused)
        └── RetryableDriverError     try again after ``retry_after`` seconds
            └── HardwareTimeout
"""

from __future__ import annotations

import re

# Errors quote what the client sent, which can be megabytes: at most this much
# of any value is quoted (then "..."), and no message grows past MAX_MESSAGE.
QUOTE_LIMIT = 64
MAX_MESSAGE = 1024
_LONG_RUN = re.compile(rf"\S{{{QUOTE_LIMIT + 1},}}")


def prefix(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``str(value)`` cut to its first ``limit`` characters and "..." if it was longer."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def quote(value: object) -> str:
    """``repr(value)`` as an error message quotes it: a prefix of it."""
    return prefix(repr(value))


def clip(message: str) -> str:
    """``message`` with any run of more than QUOTE_LIMIT non-blank characters cut to
    a prefix, and then cut to MAX_MESSAGE: the last guard, in every error body,
    against a message that quotes its input whole."""
    if len(message) <= QUOTE_LIMIT:
        return message
    message = _LONG_RUN.sub(lambda m: prefix(m.group()), message)
    return prefix(message, MAX_MESSAGE - 3)


class BarecloudError(Exception):
    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(BarecloudError):
    code = 400


class InvalidParameter(ClientError):
    code = 400


class Unauthorized(ClientError):
    code = 401


class NotFound(ClientError):
    code = 404


class Forbidden(ClientError):
    code = 403


class Conflict(ClientError):
    code = 409


class Duplicate(Conflict):
    pass


class NodeLocked(Conflict):
    def __init__(self, node: str, holder: str) -> None:
        super().__init__(
            f"Node {node} is locked by host {holder}, please retry after the current "
            "operation is completed."
        )


class InvalidState(Conflict):
    pass


class NodeChanged(Conflict):
    """A write of a node that someone else changed after it was read (its
    version moved): nothing was written; reading it again and retrying is safe."""

    def __init__(self, node: str) -> None:
        super().__init__(f"Node {node} was changed by another request; retry.")


class MethodNotAllowed(ClientError):
    code = 405


class NotAcceptable(ClientError):
    code = 406


class DriverError(BarecloudError):
    pass


class PermanentDriverError(DriverError):
    pass


class RetryableDriverError(DriverError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HardwareTimeout(RetryableDriverError):
    pass
