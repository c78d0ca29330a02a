"""The demo's typed results (:mod:`wavescope.pipelines.demo`): one record per step, the
events handed to ``on_event`` while the demo runs, and :class:`DemoResult`.

Each record holds numbers and paths only; the command line renders them
(:mod:`wavescope.cli.demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wavescope.core.results import Result
from wavescope.pipelines.recording import RecordingResult

__all__ = [
    "CortexMemory",
    "CortexStep",
    "ComparisonStarted",
    "DemoResult",
    "Network",
    "NetworkMemory",
    "PlaneWaveCheck",
    "ProbedNetwork",
    "StepStarted",
    "TrainedNetwork",
    "TrainingPlan",
]


@dataclass
class StepStarted(Result):
    """A step begins: its number (of :data:`N_STEPS`), title and what it is about to do."""

    index: int
    title: str
    plan: str | None = None


@dataclass(frozen=True)
class Network:
    """One trained network of the demo: a model and its training seed (one subject)."""

    model: str
    seed: int
    out_dir: Path

    @property
    def label(self) -> str:
        return f"{self.model} seed {self.seed}"


@dataclass
class PlaneWaveCheck(Result):
    """Step 1: a plane wave of known speed and direction measured as ``wavescope velocity``
    measures it. Errors: speed in percent of the truth, direction in degrees (wrapped)."""

    recording: RecordingResult
    truth_speed: float  # m/s
    truth_direction: float  # rad
    speed_error_pct: float | None
    direction_error_deg: float | None

    def to_json(self) -> dict:
        return {
            "summary": self.recording.summary.to_json(),
            "truth_speed": self.truth_speed,
            "truth_direction_rad": self.truth_direction,
            "speed_error_pct": self.speed_error_pct,
            "direction_error_deg": self.direction_error_deg,
        }


@dataclass
class CortexStep(Result):
    """Step 2: the neural-field recordings written, and recording 0 measured (its
    summaries of all samples and of wave epochs alone)."""

    paths: list[Path]
    first: RecordingResult
    first_waves_speed: float | None  # m/s, median in wave epochs (None: no epoch)
    n_bursts: int | None  # None: recorded, not simulated (no known bursts)
    duration: float  # s
    recorded: bool = False  # True: real recordings given with --cortex

    def to_json(self) -> dict:
        s = self.first.summary
        return {
            "paths": [str(p) for p in self.paths],
            "recorded": self.recorded,
            "n_bursts": self.n_bursts,
            "wave_fraction": s.wave_fraction,
            "pgd_median": s.pgd_median,
            "waves_speed_median": self.first_waves_speed,
            "direction_concentration": s.direction_concentration,
        }


@dataclass
class TrainingPlan(Result):
    """Step 3's settings, handed on before the runs start."""

    seeds: list[int]
    n_runs: int
    processes: int
    steps: int
    batch: int
    lr: float


@dataclass
class TrainedNetwork(Result):
    """One trained network (step 3): held-out exact-string accuracy on lengths 5-20 and
    at length 20, character accuracy and loss; ``seconds`` since the training began."""

    network: Network
    n_params: int
    seconds: float
    exact_acc: float
    exact_acc_20: float
    char_acc: float
    loss: float
    out_dir: Path


@dataclass
class ProbedNetwork(Result):
    """Step 4: impulse responses of a few channels of one network's layer 0."""

    network: Network
    part: str
    channels: list[int]
    length: int
    subject: str
    paths: list[Path]


@dataclass
class CortexMemory(Result):
    """Step 5, cortex: the driven sheets' memory curves and recording 0's truth (samples
    the input reaches the array for: transit time + 1)."""

    curves: list
    paths: list[Path]
    truth_horizon: int
    duration: float  # s per recording


@dataclass
class NetworkMemory(Result):
    """Step 5, one network: its wave-carrying state's memory curve."""

    network: Network
    memory: object  # ModelMemoryResult
    n_sequences: int


@dataclass
class ComparisonStarted(Result):
    """Step 6 begins: whether the Davis et al. 2021 reference is there, and from where."""

    reference: object
    reference_from: str


@dataclass
class DemoResult(Result):
    """Everything the demo made, step by step, with the timings of each step (s)."""

    files: object  # DemoFiles
    plane_wave: PlaneWaveCheck
    cortex: CortexStep
    trained: list[TrainedNetwork]
    probes: list[ProbedNetwork]
    cortex_memory: CortexMemory | None  # None: recorded cortex (no known input)
    network_memory: list[NetworkMemory]
    comparison: object  # ComparisonResult
    timings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "files": self.files.to_json(),
            "plane_wave": self.plane_wave.to_json(),
            "cortex": self.cortex.to_json(),
            "trained": [t.to_json() for t in self.trained],
            "probes": [p.to_json() for p in self.probes],
            "timings": dict(self.timings),
        }
