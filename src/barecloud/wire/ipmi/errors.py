"""What goes wrong in IPMI, and how it is said: RMCP+ status codes, completion codes, errors.

Kept apart so that every other module (and callers catching errors) depends
on this small one, not on the codecs.
"""

from __future__ import annotations

RMCPP_STATUS: dict[int, str] = {
    0x00: "no errors",
    0x01: "insufficient resources to create a session",
    0x02: "invalid session ID",
    0x03: "invalid payload type",
    0x04: "invalid authentication algorithm",
    0x05: "invalid integrity algorithm",
    0x06: "no matching authentication payload",
    0x07: "no matching integrity payload",
    0x08: "inactive session ID",
    0x09: "invalid role",
    0x0A: "unauthorized role or privilege level requested",
    0x0B: "insufficient resources to create a session at the requested role",
    0x0C: "invalid name length",
    0x0D: "unauthorized name",
    0x0E: "unauthorized GUID",
    0x0F: "invalid integrity check value",
    0x10: "invalid confidentiality algorithm",
    0x11: "no cipher suite match with proposed security algorithms",
    0x12: "illegal or unrecognized parameter",
}
STATUS_OK = 0x00
STATUS_NO_RESOURCES = 0x01
STATUS_INVALID_SESSION_ID = 0x02
STATUS_INVALID_ROLE = 0x09
STATUS_UNAUTHORIZED_ROLE = 0x0A
STATUS_INVALID_NAME_LENGTH = 0x0C
STATUS_UNAUTHORIZED_NAME = 0x0D
STATUS_INVALID_INTEGRITY = 0x0F
STATUS_NO_CIPHER_SUITE = 0x11

COMPLETION_CODES: dict[int, str] = {
    0x00: "command completed normally",
    0xC0: "node busy",
    0xC1: "invalid command",
    0xC2: "command invalid for given LUN",
    0xC3: "timeout while processing command",
    0xC4: "out of space",
    0xC5: "reservation canceled or invalid reservation ID",
    0xC6: "request data truncated",
    0xC7: "request data length invalid",
    0xC8: "request data field length limit exceeded",
    0xC9: "parameter out of range",
    0xCA: "cannot return number of requested data bytes",
    0xCB: "requested sensor, data, or record not present",
    0xCC: "invalid data field in request",
    0xCD: "command illegal for specified sensor or record type",
    0xCE: "command response could not be provided",
    0xCF: "cannot execute duplicated request",
    0xD0: "SDR repository in update mode",
    0xD1: "device in firmware update mode",
    0xD2: "BMC initialization in progress",
    0xD3: "destination unavailable",
    0xD4: "insufficient privilege level",
    0xD5: "command not supported in present state",
    0xD6: "command sub-function disabled or unavailable",
    0xFF: "unspecified error",
}
CC_OK = 0x00
CC_INVALID_COMMAND = 0xC1
CC_REQUEST_LENGTH_INVALID = 0xC7
CC_INVALID_DATA = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_UNSPECIFIED = 0xFF
CC_PARAM_NOT_SUPPORTED = 0x80  # Get/Set System Boot Options
CC_INVALID_SESSION_ID = 0x87  # Close Session


def status_text(status: int) -> str:
    """The RMCP+ status code as words, for error messages."""
    return f"{RMCPP_STATUS.get(status, 'unknown status')} (0x{status:02x})"


def completion_text(code: int) -> str:
    """The completion code as words, for error messages."""
    return f"{COMPLETION_CODES.get(code, 'command-specific error')} (0x{code:02x})"


# --- errors -----------------------------------------------------------------


class IpmiError(Exception):
    """Root of the errors of this package.

    Hierarchy::

        IpmiError
        ├── IpmiProtocolError   malformed or unexpected bytes
        ├── IpmiTimeout         no answer within the deadline (retryable)
        ├── IpmiSessionError    the BMC refused session set-up (RMCP+ status)
        │   └── IpmiAuthError   ... because of the credentials (permanent)
        └── IpmiCommandError    a command answered a non-zero completion code
    """


class IpmiProtocolError(IpmiError):
    """The peer sent bytes we cannot accept (bad framing, checksum, MAC)."""


class IpmiTimeout(IpmiError, TimeoutError):
    """No answer in time: the BMC is down, unreachable, or overloaded."""


class IpmiSessionError(IpmiError):
    """Session set-up was refused; ``status`` is the RMCP+ status code."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class IpmiAuthError(IpmiSessionError):
    """Wrong user name, password, Kg or privilege: retrying will not help."""


class IpmiCommandError(IpmiError):
    """A command failed at the BMC; ``code`` is the completion code."""

    def __init__(self, netfn: int, command: int, code: int) -> None:
        super().__init__(f"netfn 0x{netfn:02x} cmd 0x{command:02x}: {completion_text(code)}")
        self.netfn = netfn
        self.command = command
        self.code = code
