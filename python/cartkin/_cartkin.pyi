"""Type stubs of the extension module ``cartkin._cartkin`` (Rust, pyo3). Use the documented
wrappers in ``cartkin`` instead."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__version__: str
MAX_IN_MEMORY_PATIENTS: int

def simulate(
    source: str, patient: int = 0, rtol: Optional[float] = None
) -> Tuple[str, str, Dict[str, np.ndarray]]:
    """(document_json, trajectory_csv, trajectory columns) of one patient."""

def run_trial(
    study: str,
    patients: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    rtol: Optional[float] = None,
) -> Tuple[str, Dict[str, np.ndarray]]:
    """(summary_json, patients.csv columns) of a trial held in memory."""

def models() -> List[Dict[str, Any]]:
    """The built-in models, populations and studies."""

def json_to_toml(text: str) -> str:
    """A JSON object as TOML text."""
