"""Serving errors with the gRPC status codes and messages OVMS uses (src/status.cpp in openvinotoolkit/model_server).

OVMS formats a failed status as ``"<message> - <details>"``; clients and tests may match on the message prefix.
"""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """An error answered to the client with ``code`` and ``message``."""

    def __init__(self, code: grpc.StatusCode, message: str, details: str = ""):
        self.code = code
        self.message = f"{message} - {details}" if details else message
        super().__init__(self.message)

    def abort(self, context: grpc.ServicerContext):
        """Abort the RPC with this error (raises, as grpc's ``context.abort`` does)."""
        context.abort(self.code, self.message)


def model_name_missing() -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, "Model with requested name is not found")


def model_version_missing() -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, "Model with requested version is not found")


def model_version_not_loaded_yet() -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, "Model with requested version is not loaded yet")


def model_version_invalid_format(raw: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Model version is invalid", f"Actual: {raw}")


def invalid_argument(message: str, details: str = "") -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message, details)


def internal(message: str = "Internal inference error", details: str = "") -> ServingError:
    return ServingError(grpc.StatusCode.INTERNAL, message, details)
