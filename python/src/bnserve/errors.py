"""bnserve errors as Python exceptions: one class per gRPC status code, each carrying the code and the
server's message (which names the field, the expected and the received value)."""
import grpc


class BnServeError(Exception):
    """A failed bnserve call. `code` is the grpc.StatusCode, `message` the server's text."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        return "%s: %s" % (self.code.name, self.message)


class Cancelled(BnServeError):
    code = grpc.StatusCode.CANCELLED


class Unknown(BnServeError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(BnServeError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(BnServeError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(BnServeError, LookupError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(BnServeError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(BnServeError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(BnServeError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(BnServeError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(BnServeError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(BnServeError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(BnServeError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(BnServeError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(BnServeError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(BnServeError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(BnServeError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE = {cls.code: cls for cls in (
    Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
    ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable, DataLoss,
    Unauthenticated)}


def from_rpc_error(error):
    """The BnServeError subclass for a grpc.RpcError (code and details kept)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return _BY_CODE.get(code, BnServeError)(details or code.name, code)
