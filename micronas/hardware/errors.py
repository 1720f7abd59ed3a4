"""Errors of the hardware path; each message is one sentence naming the port or value and what to do."""

from micronas.errors import MicronasError


class DeviceError(MicronasError):
    """A device (board, virtual board, in-process interpreter) that cannot do what was asked."""


class LinkError(DeviceError):
    """The link to the device is gone or unusable: stop, do not record anything as a measurement."""


class PortError(LinkError):
    """A serial port that does not exist, is busy, or may not be opened."""


class BoardSilentError(LinkError):
    """A board that gave no valid reply to a request after every retry."""


class ProtocolVersionError(LinkError):
    """A board that speaks another version of the serial protocol."""


class BoardError(DeviceError):
    """A board that answered a request with an ERROR frame; `code` is its error code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code
