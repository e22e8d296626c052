"""Evaluation metrics: pure functions over numpy arrays (torch tensors / scipy.sparse where noted), one per module."""

from .dead import activation_rate, dead_pct
from .dead_floor import dead_floor_pct
from .discretize import discretize
from .geometry import InputGeometry, input_geometry
from .mig import MigResult, mig
from .mse import pixel_mse
from .mutual_info import factor_entropy, mutual_info_matrix
from .specialization import neuron_factor_mi, specialized_count
from .sweep import threshold_sweep

__all__ = [
    "InputGeometry",
    "MigResult",
    "activation_rate",
    "dead_floor_pct",
    "dead_pct",
    "discretize",
    "factor_entropy",
    "input_geometry",
    "mig",
    "mutual_info_matrix",
    "neuron_factor_mi",
    "pixel_mse",
    "specialized_count",
    "threshold_sweep",
]
