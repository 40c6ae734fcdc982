"""What the Client returns: small dataclasses with per-channel arrays as NumPy arrays (float64, as the
server computes them). Tables have to_pandas() (pandas is optional: imported only there)."""
import dataclasses
import datetime
from typing import List, Optional

import numpy as np

from bnserve import _tensors
from bnserve.v1 import model_pb2, statistics_pb2


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas() needs pandas (Debian: python3-pandas)") from None
    return pandas


def _table(rows):
    return _pandas().DataFrame([dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r for r in rows])


def _f64(values):
    return np.asarray(values, dtype=np.float64)


def _optional_version(number):
    return number if number else None


def _utc(unix_ms):
    """Unix-epoch milliseconds of the wire as a UTC datetime; None for 0 (no time)."""
    return datetime.datetime.fromtimestamp(unix_ms / 1000.0, tz=datetime.timezone.utc) if unix_ms else None


class _NamedLayers:
    """Layers reachable by position or by name: result["/bn1/BatchNormalization"]."""

    def __getitem__(self, key):
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError("no BN layer %r; layers: %s" % (key, [layer.name for layer in self.layers]))
        return self.layers[key]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


@dataclasses.dataclass(frozen=True)
class Version:
    """One statistics version's history entry (VersionInfo)."""
    version: int
    parent: int
    created: Optional[datetime.datetime]  # UTC; None for version 1
    origin: str  # "onnx", "recalibrate", "rollback" or "adapt" (a promoted candidate)
    mode: str
    batches: int
    samples: int
    note: str
    request_id: str

    @classmethod
    def from_proto(cls, p):
        return cls(p.version, p.parent, _utc(p.created_unix_ms), p.origin, p.mode, p.batches, p.samples, p.note,
                   p.request_id)


_STATES = {v: k[len("MODEL_STATE_"):].lower() for k, v in model_pb2.ModelState.items()}
_FORWARD = {v: k[len("FORWARD_MODE_"):].lower() for k, v in statistics_pb2.ForwardMode.items()}


@dataclasses.dataclass(frozen=True)
class ModelStatus:
    """A model's lifecycle state: "loading", "available", "unloading", "unloaded" or "error"."""
    name: str
    state: str
    error: str
    statistics_version: int
    active_recalibrations: int

    @classmethod
    def from_proto(cls, p):
        return cls(p.name, _STATES.get(p.state, str(p.state)), p.error, p.statistics_version,
                   p.active_recalibrations)


@dataclasses.dataclass(frozen=True)
class Models:
    """ListModels: every model of the repository, and the largest message the server accepts."""
    models: List[ModelStatus]
    max_message_bytes: int

    def __iter__(self):
        return iter(self.models)

    def __len__(self):
        return len(self.models)

    @property
    def names(self):
        return [m.name for m in self.models]

    def to_pandas(self):
        return _table(self.models)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A graph input or output; -1 marks a symbolic dim (the batch)."""
    name: str
    shape: tuple
    dim_names: tuple


@dataclasses.dataclass(frozen=True)
class BnLayer:
    """One BatchNormalization node (momentum in PyTorch's convention)."""
    name: str
    channels: int
    epsilon: float
    momentum: float
    cumulative: bool
    has_affine: bool
    input: str


@dataclasses.dataclass(frozen=True)
class ModelInfo(_NamedLayers):
    """DescribeModel. For a model that is not available only `status` is meaningful."""
    status: ModelStatus
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]
    layers: List[BnLayer]
    opset: int
    producer: str
    current_version: Optional[Version]

    @property
    def name(self):
        return self.status.name

    @classmethod
    def from_proto(cls, p):
        spec = lambda t: TensorSpec(t.name, tuple(t.shape), tuple(t.dim_names))  # noqa: E731
        return cls(ModelStatus.from_proto(p.status), [spec(t) for t in p.inputs], [spec(t) for t in p.outputs],
                   [BnLayer(b.name, b.channels, b.epsilon, b.momentum, b.cumulative, b.has_affine, b.input)
                    for b in p.bn_layers], p.opset, p.producer,
                   Version.from_proto(p.current_version) if p.HasField("current_version") else None)

    def to_pandas(self):
        """The BN layers, one row each."""
        return _table(self.layers)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Predict: one array per model output (in DescribeModel's order) and the version that computed them (with
    a staged candidate: the version it was built from, and candidate_id)."""
    model: str
    statistics_version: int
    outputs: dict  # output name -> np.ndarray (float32)
    candidate_id: Optional[int] = None

    @classmethod
    def from_proto(cls, p):
        return cls(p.model, p.statistics_version, {t.name: _tensors.from_tensor(t) for t in p.outputs},
                   p.candidate_id or None)

    @property
    def output(self):
        """The first (usually the only) output."""
        return next(iter(self.outputs.values()))


@dataclasses.dataclass(frozen=True)
class LayerRunningStats:
    """One BN layer's running statistics (var: PyTorch's unbiased running_var); gamma/beta only when asked."""
    name: str
    channels: int
    epsilon: float
    mean: np.ndarray
    var: np.ndarray
    num_batches_tracked: int
    sample_count: int
    gamma: Optional[np.ndarray]
    beta: Optional[np.ndarray]

    @classmethod
    def from_proto(cls, p):
        return cls(p.name, p.channels, p.epsilon, _f64(p.mean), _f64(p.var), p.num_batches_tracked,
                   p.sample_count, _f64(p.gamma) if len(p.gamma) else None, _f64(p.beta) if len(p.beta) else None)


@dataclasses.dataclass(frozen=True)
class RunningStats(_NamedLayers):
    """GetRunningStats: one version's statistics, per layer."""
    model: str
    version: Version
    layers: List[LayerRunningStats]

    def to_pandas(self):
        """One row per (layer, channel)."""
        rows = []
        for layer in self.layers:
            for c in range(layer.channels):
                row = {"layer": layer.name, "channel": c, "mean": layer.mean[c], "var": layer.var[c]}
                if layer.gamma is not None:
                    row.update(gamma=layer.gamma[c], beta=layer.beta[c])
                rows.append(row)
        return _table(rows)


@dataclasses.dataclass(frozen=True)
class LayerBatchStats:
    """What one BN layer saw in a batch, per channel, next to the compared running statistics."""
    name: str
    count: int
    mean: np.ndarray
    var_biased: np.ndarray
    var_unbiased: np.ndarray
    m2: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    mean_shift: np.ndarray  # z = (mean - running_mean) / sqrt(running_var + eps)
    kl: np.ndarray  # KL(N(mean, var_biased) || N(running_mean, running_var + eps))
    mean_abs_shift: float
    mean_kl: float
    worst_channel: int

    @classmethod
    def from_proto(cls, p):
        return cls(p.name, p.count, _f64(p.mean), _f64(p.var_biased), _f64(p.var_unbiased), _f64(p.m2),
                   _f64(p.running_mean), _f64(p.running_var), _f64(p.mean_shift), _f64(p.kl), p.mean_abs_shift,
                   p.mean_kl, p.worst_channel)


@dataclasses.dataclass(frozen=True)
class BatchStats(_NamedLayers):
    """GetBatchStats: every BN layer's view of one batch (model order, or by drift when sorted)."""
    model: str
    statistics_version: int
    forward: str  # "train" or "eval"
    samples: int
    layers: List[LayerBatchStats]

    @classmethod
    def from_proto(cls, p):
        return cls(p.model, p.statistics_version, _FORWARD.get(p.forward_mode, str(p.forward_mode)), p.samples,
                   [LayerBatchStats.from_proto(layer) for layer in p.layers])

    def to_pandas(self):
        """One row per layer: count, mean |z|, mean KL, worst channel and its KL and z."""
        return _table([{"layer": l.name, "count": l.count, "mean_abs_shift": l.mean_abs_shift, "mean_kl": l.mean_kl,
                        "worst_channel": l.worst_channel, "worst_kl": l.kl[l.worst_channel],
                        "worst_shift": l.mean_shift[l.worst_channel]} for l in self.layers])


@dataclasses.dataclass(frozen=True)
class Moments:
    """Moments: mean and biased variance over the reduced axes (float64)."""
    mean: np.ndarray
    variance: np.ndarray


@dataclasses.dataclass(frozen=True)
class LayerChange:
    """How far one layer's statistics moved in a recalibration."""
    name: str
    updated: bool
    mean_shift_rms: float
    log_var_ratio_rms: float


@dataclasses.dataclass(frozen=True)
class Recalibration(_NamedLayers):
    """Recalibrate's reply. new_version is None for a dry run and a staged one (whose candidate_id is set);
    deduplicated means an earlier attempt with the same request_id had committed it (layers is then empty)."""
    model: str
    base_version: int
    dry_run: bool
    batches: int
    samples: int
    layers: List[LayerChange]
    new_version: Optional[Version]
    deduplicated: bool
    attempts: int
    candidate_id: Optional[int] = None

    @classmethod
    def from_proto(cls, p, attempts):
        return cls(p.model, p.base_version, p.dry_run, p.batches, p.samples,
                   [LayerChange(l.name, l.updated, l.mean_shift_rms, l.log_var_ratio_rms) for l in p.layers],
                   Version.from_proto(p.new_version) if p.HasField("new_version") else None, p.deduplicated,
                   attempts, p.candidate_id or None)

    def to_pandas(self):
        return _table(self.layers)


@dataclasses.dataclass(frozen=True)
class History:
    """ListVersions: the lineage of the served version, oldest first."""
    model: str
    current_version: int
    versions: List[Version]

    def __iter__(self):
        return iter(self.versions)

    def __len__(self):
        return len(self.versions)

    def to_pandas(self):
        return _table(self.versions)


@dataclasses.dataclass(frozen=True)
class Exported:
    """Export: the ONNX bytes with a version's statistics, and the file they were written to (if any)."""
    model: str
    statistics_version: int
    data: bytes
    path: Optional[str]


@dataclasses.dataclass(frozen=True)
class LayerDriftScore:
    """One BN layer in one drift window: the calibrated score (about 1 for traffic like the reference), and
    against the served running statistics the mean |standardized mean shift| and the mean Gaussian KL."""
    name: str
    score: float
    mean_abs_shift: float
    mean_kl: float


@dataclasses.dataclass(frozen=True)
class DriftWindow(_NamedLayers):
    """One closed window of monitored samples; score = max of the layers' (0 for a reference window)."""
    index: int
    samples: int
    closed: Optional[datetime.datetime]  # UTC
    statistics_version: int
    score: float
    above_threshold: bool
    reference: bool
    layers: List[LayerDriftScore]

    @classmethod
    def from_proto(cls, p):
        return cls(p.index, p.samples, _utc(p.closed_unix_ms), p.statistics_version, p.score, p.above_threshold,
                   p.reference, [LayerDriftScore(l.name, l.score, l.mean_abs_shift, l.mean_kl) for l in p.layers])


@dataclasses.dataclass(frozen=True)
class DriftCalibration:
    """The alarm rule: the threshold on the window score for `false_alarm_rate` false alarms per window (0 until
    the reference windows are in), and the consecutive windows that raise or clear the alarm."""
    threshold: float
    false_alarm_rate: float
    alarm_windows: int
    reference_windows: int
    reference_windows_needed: int

    @property
    def calibrated(self):
        return self.threshold > 0


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """The monitor's configuration in force (config.json "drift", else the server's flags)."""
    enabled: bool
    sample_rate: float
    window_samples: int
    window_seconds: float
    auto_adapt: bool


@dataclasses.dataclass(frozen=True)
class ShadowEvaluation:
    """A candidate next to the served statistics on the same sampled traffic: top-1 agreement, mean entropy
    (nats) and mean top-1 probability of each, the largest share of one predicted class (candidate's)."""
    samples: int
    top1_agreement: float
    served_entropy: float
    candidate_entropy: float
    served_top1_probability: float
    candidate_top1_probability: float
    candidate_max_class_share: float


@dataclasses.dataclass(frozen=True)
class Candidate:
    """Statistics staged, not served: source "monitor" (the adaptation policy) or "client" (recalibrate(...,
    stage=True)). Pass it (or its id) to predict(candidate=...), promote() or discard()."""
    candidate_id: int
    base_version: int
    source: str
    mode: str
    samples: int
    created: Optional[datetime.datetime]  # UTC
    shadow: ShadowEvaluation

    @classmethod
    def from_proto(cls, p):
        s = p.shadow
        return cls(p.candidate_id, p.base_version, p.source, p.mode, p.samples, _utc(p.created_unix_ms),
                   ShadowEvaluation(s.samples, s.top1_agreement, s.served_entropy, s.candidate_entropy,
                                    s.served_top1_probability, s.candidate_top1_probability,
                                    s.candidate_max_class_share))


@dataclasses.dataclass(frozen=True)
class DriftEvent:
    """A decision or event of the monitor and the adaptation policy ("reference", "alarm", "clear",
    "candidate", "promote", "refuse", "discard", "rollback", "confirm", ...), with the numbers behind it."""
    time: Optional[datetime.datetime]  # UTC
    kind: str
    statistics_version: int
    candidate_id: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Drift:
    """GetDrift / WatchDrift: one model's drift monitor. windows, most recent last; drift.latest is the last
    closed window, drift.scores() each layer's score over the windows; to_pandas() one row per (window,
    layer)."""
    model: str
    statistics_version: int  # the served version being monitored
    config: DriftConfig
    calibration: DriftCalibration
    alarm: bool
    alarm_reason: str
    policy_state: str  # "monitoring", "calibrating", "collecting", "shadowing", "watching", "off"
    samples_offered: int
    samples_sampled: int
    samples_dropped: int
    samples_processed: int
    windows: List[DriftWindow]
    candidates: List[Candidate]
    events: List[DriftEvent]

    @classmethod
    def from_proto(cls, p):
        c, k = p.config, p.calibration
        return cls(p.model, p.statistics_version,
                   DriftConfig(c.enabled, c.sample_rate, c.window_samples, c.window_seconds, c.auto_adapt),
                   DriftCalibration(k.threshold, k.false_alarm_rate, k.alarm_windows, k.reference_windows,
                                    k.reference_windows_needed),
                   p.alarm, p.alarm_reason, p.policy_state, p.samples_offered, p.samples_sampled,
                   p.samples_dropped, p.samples_processed, [DriftWindow.from_proto(w) for w in p.windows],
                   [Candidate.from_proto(x) for x in p.candidates],
                   [DriftEvent(_utc(e.unix_ms), e.kind, e.statistics_version, e.candidate_id, e.reason)
                    for e in p.events])

    @property
    def latest(self):
        """The most recent closed window (None before the first)."""
        return self.windows[-1] if self.windows else None

    @property
    def threshold(self):
        return self.calibration.threshold

    def scores(self):
        """{layer name: float64 array of its score per window, oldest first}, NaN for reference windows (they
        calibrate the threshold and are not scored); the key None holds the windows' own scores."""
        names = [layer.name for layer in self.windows[-1]] if self.windows else []
        out = {None: _f64([np.nan if w.reference else w.score for w in self.windows])}
        for name in names:
            out[name] = _f64([np.nan if w.reference else next((l.score for l in w if l.name == name), np.nan)
                              for w in self.windows])
        return out

    def to_pandas(self):
        """One row per (window, layer): window index, close time, version, reference, above threshold, the
        window's score, the layer, its score, mean |shift| and mean KL."""
        return _table([{"window": w.index, "closed": w.closed, "statistics_version": w.statistics_version,
                        "reference": w.reference, "above_threshold": w.above_threshold, "window_score": w.score,
                        "layer": l.name, "score": l.score, "mean_abs_shift": l.mean_abs_shift, "mean_kl": l.mean_kl}
                       for w in self.windows for l in w.layers])
