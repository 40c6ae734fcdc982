"""bnserve: a Python client for the bnserve BatchNorm serving service.

    import bnserve
    with bnserve.Client("localhost:50051") as client:
        stats = client.batch_stats("digits", x)
        client.recalibrate("digits", batches, mode="cumulative", reset=True)

bnserve.torch exports PyTorch models for serving; bnserve.plot draws statistics (matplotlib).
"""
from bnserve.client import Client
from bnserve.errors import (Aborted, AlreadyExists, BnServeError, Cancelled, DataLoss, DeadlineExceeded,
                            FailedPrecondition, Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                            ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown)
from bnserve.results import (BatchStats, BnLayer, Candidate, Drift, DriftCalibration, DriftConfig, DriftEvent,
                             DriftWindow, Exported, History, LayerBatchStats, LayerChange, LayerDriftScore,
                             LayerRunningStats, ModelInfo, Models, ModelStatus, Moments, Prediction, Recalibration,
                             RunningStats, ShadowEvaluation, TensorSpec, Version)

__version__ = "0.1.0"

__all__ = ["Client", "BnServeError", "Aborted", "AlreadyExists", "Cancelled", "DataLoss", "DeadlineExceeded",
           "FailedPrecondition", "Internal", "InvalidArgument", "NotFound", "OutOfRange", "PermissionDenied",
           "ResourceExhausted", "Unauthenticated", "Unavailable", "Unimplemented", "Unknown", "BatchStats", "BnLayer",
           "Candidate", "Drift", "DriftCalibration", "DriftConfig", "DriftEvent", "DriftWindow", "Exported", "History",
           "LayerBatchStats", "LayerChange", "LayerDriftScore", "LayerRunningStats", "ModelInfo", "Models",
           "ModelStatus", "Moments", "Prediction", "Recalibration", "RunningStats", "ShadowEvaluation", "TensorSpec",
           "Version"]
