"""Exceptions for rsc status codes: one class per code, all RSCError, carrying the status and
the library's message. The argument errors (RSC_E_ARG, RSC_E_INPUT_SIZE, RSC_E_INPUT_VALUE) are
also ValueErrors, as Python's own argument errors are."""
from __future__ import annotations


class RSCError(Exception):
    status = -1
    name = "RSC_E_UNKNOWN"

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


def _make(name: str, status: int, status_name: str, *bases: type) -> type:
    return type(name, (RSCError, *bases), {"status": status, "name": status_name})


NullPointerError = _make("NullPointerError", 1, "RSC_E_NULL")
InvalidArgumentError = _make("InvalidArgumentError", 2, "RSC_E_ARG", ValueError)
ModelIOError = _make("ModelIOError", 3, "RSC_E_IO")
BadMagicError = _make("BadMagicError", 4, "RSC_E_MAGIC")
UnsupportedVersionError = _make("UnsupportedVersionError", 5, "RSC_E_VERSION")
TruncatedError = _make("TruncatedError", 6, "RSC_E_TRUNCATED")
OutOfBoundsError = _make("OutOfBoundsError", 7, "RSC_E_BOUNDS")
ShapeError = _make("ShapeError", 8, "RSC_E_SHAPE")
LimitError = _make("LimitError", 9, "RSC_E_LIMIT")
ChecksumError = _make("ChecksumError", 10, "RSC_E_CHECKSUM")
InvalidFieldError = _make("InvalidFieldError", 11, "RSC_E_FORMAT")
InputSizeError = _make("InputSizeError", 12, "RSC_E_INPUT_SIZE", ValueError)
InputValueError = _make("InputValueError", 13, "RSC_E_INPUT_VALUE", ValueError)
UnsupportedError = _make("UnsupportedError", 14, "RSC_E_UNSUPPORTED")
OutOfMemoryError = _make("OutOfMemoryError", 15, "RSC_E_NOMEM")
CancelledError = _make("CancelledError", 16, "RSC_E_CANCELLED")
InternalError = _make("InternalError", 17, "RSC_E_INTERNAL")

BY_STATUS = {cls.status: cls for cls in [
    NullPointerError, InvalidArgumentError, ModelIOError, BadMagicError, UnsupportedVersionError,
    TruncatedError, OutOfBoundsError, ShapeError, LimitError, ChecksumError, InvalidFieldError,
    InputSizeError, InputValueError, UnsupportedError, OutOfMemoryError, CancelledError, InternalError]}


def from_status(status: int, message: str) -> RSCError:
    return BY_STATUS.get(status, RSCError)(message, status)
