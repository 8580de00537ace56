"""cartkin: CAR-T cell therapy kinetics for B-ALL, from Python.

The Python face of the ``cartkin`` Rust crate: the same solver, studies and outputs as the
``cartkin`` command line, value for value.

>>> import cartkin
>>> sol = cartkin.simulate("tests/data/S1_nominal.json")      # doctest: +SKIP
>>> sol.endpoints["cr_day28"], sol.trajectory["t"][:3]         # doctest: +SKIP
(True, array([0., 1., 2.]))
>>> res = cartkin.run_trial("eliana", patients=1000, seed=5)   # doctest: +SKIP
>>> res.summary["cr_rate"], res.patients["cmax"].shape          # doctest: +SKIP

Functions
---------
simulate(source, patient=0, rtol=None) -> Solution
    One patient (``cartkin simulate``).
run_trial(study, patients=None, seed=None, threads=None, rtol=None) -> TrialResult
    A virtual trial held in memory (``cartkin trial``).
models() -> list of dict
    The built-in models, populations and studies (``cartkin models``).

Errors
------
``ValueError`` for bad input and ``RuntimeError`` for a run that cannot complete, each
with the one-line message the command line prints; Ctrl-C during ``run_trial`` raises
``KeyboardInterrupt`` (after the chunk of 1,024 patients under way).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _cartkin

__all__ = [
    "simulate",
    "run_trial",
    "models",
    "Solution",
    "TrialResult",
    "MAX_IN_MEMORY_PATIENTS",
    "__version__",
]

__version__: str = _cartkin.__version__

#: The most patients ``run_trial`` holds in memory (the command line streams any number
#: to files: ``cartkin trial STUDY --out DIR``).
MAX_IN_MEMORY_PATIENTS: int = _cartkin.MAX_IN_MEMORY_PATIENTS

Source = Union[str, "os.PathLike[str]", Dict[str, Any]]


def _is_path(x: Any) -> bool:
    return isinstance(x, os.PathLike)


def _source_text(source: Source, *, study: bool) -> str:
    """A scenario or study as the string the Rust layer reads (a path, a built-in name,
    or the document's text)."""
    if _is_path(source):
        return os.fspath(source)
    if isinstance(source, dict):
        text = json.dumps(source, allow_nan=False)
        # A study (a dict with a ``model`` key, or any dict given to run_trial) is TOML
        # on the Rust side; a scenario of the reference model is JSON.
        if study or "model" in source:
            return _cartkin.json_to_toml(text)
        return text
    if isinstance(source, str):
        return source
    raise TypeError(
        f"expected a path, a built-in study's name, a JSON/TOML text or a dict, "
        f"not {type(source).__name__}"
    )


def _frame(columns: Dict[str, np.ndarray]) -> Any:
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_pandas() needs pandas: pip install pandas (or pip install 'cartkin[pandas]')"
        ) from e
    return pd.DataFrame(columns, copy=False)


class Solution:
    """One patient's results: what ``cartkin simulate`` prints and writes.

    Attributes
    ----------
    document : dict
        The whole endpoints document (``json.loads`` of the text ``cartkin simulate``
        prints): ``name``, ``endpoints``, ``events``, ``solver``; for a study's patient
        also ``study``, ``model``, ``seed``, ``patient``, ``horizon_days``.
    endpoints : dict
        ``document["endpoints"]`` (the keys of ``<name>_endpoints.json``); a missing value
        is ``None`` (JSON null).
    event_log : list of dict
        ``document["events"]``: every event with its ``kind``, time ``t`` and details.
    events : list of (float, str)
        ``(day, kind)`` of each event, in order.
    trajectory : dict of numpy.ndarray
        The trajectory by column (``t`` and the model's states and observables, as in
        ``<name>_trajectory.csv``): a row at every day and at every event's time; float64
        arrays, NaN for a missing value.
    document_json, trajectory_csv : str
        The command line's exact text of both outputs.
    """

    __slots__ = ("document_json", "trajectory_csv", "document", "trajectory")

    def __init__(self, document_json: str, trajectory_csv: str, trajectory: Dict[str, np.ndarray]):
        self.document_json = document_json
        self.trajectory_csv = trajectory_csv
        self.document: Dict[str, Any] = json.loads(document_json)
        self.trajectory = trajectory

    @property
    def name(self) -> Optional[str]:
        """The scenario's name (``None`` for a study's patient, see ``document["study"]``)."""
        return self.document.get("name")

    @property
    def endpoints(self) -> Dict[str, Any]:
        return self.document["endpoints"]

    @property
    def event_log(self) -> List[Dict[str, Any]]:
        return self.document["events"]

    @property
    def events(self) -> List[Tuple[float, str]]:
        return [(float(e["t"]), str(e["kind"])) for e in self.document["events"]]

    def to_pandas(self) -> Any:
        """The trajectory as a pandas DataFrame (needs pandas)."""
        return _frame(self.trajectory)

    def __repr__(self) -> str:
        who = self.document.get("name")
        if who is None:
            who = f"{self.document.get('study')} patient {self.document.get('patient')}"
        n = len(self.trajectory.get("t", ()))
        return f"<cartkin.Solution {who}: {len(self.endpoints)} endpoints, {len(self.event_log)} events, {n} days>"


class TrialResult:
    """A virtual trial's results: what ``cartkin trial --out DIR`` writes.

    Attributes
    ----------
    summary : dict
        ``summary.json`` (``json.loads`` of the command line's exact bytes).
    summary_json : str
        Those bytes as text.
    patients : dict of numpy.ndarray
        The columns of ``patients.csv`` by name (names unchanged, in the file's order), one
        row per patient in id order: float64 arrays with NaN for a missing value; text
        columns (``status``, ``relapse_phenotype``, ``crs_scale``, ...) as object arrays of
        ``str`` with ``None`` for a missing value.
    """

    __slots__ = ("summary_json", "summary", "patients")

    def __init__(self, summary_json: str, patients: Dict[str, np.ndarray]):
        self.summary_json = summary_json
        self.summary: Dict[str, Any] = json.loads(summary_json)
        self.patients = patients

    def __len__(self) -> int:
        return len(next(iter(self.patients.values()), ()))

    def to_pandas(self) -> Any:
        """``patients`` as a pandas DataFrame, one row per patient (needs pandas)."""
        return _frame(self.patients)

    def __repr__(self) -> str:
        return f"<cartkin.TrialResult {len(self)} patients, {len(self.patients)} columns>"


def simulate(source: Source, patient: int = 0, rtol: Optional[float] = None) -> Solution:
    """Simulate one patient, as ``cartkin simulate SOURCE [--patient N] [--rtol R]``.

    Parameters
    ----------
    source : str, os.PathLike or dict
        A scenario of the reference model (a ``.json`` file, its JSON text, TOML without a
        ``model`` key, or a dict), or a study (a built-in study's name such as
        ``"eliana"``, a ``.toml`` file, its text, or a dict with a ``model`` key).
    patient : int
        The patient's id in a study (0 for a scenario, which holds one patient).
    rtol : float, optional
        Relative tolerance of the solver (absolute tolerances scale with it).

    Returns
    -------
    Solution

    Raises
    ------
    ValueError
        Bad input or a failed solve, with the command line's message.
    """
    doc, csv, traj = _cartkin.simulate(_source_text(source, study=False), patient, rtol)
    return Solution(doc, csv, traj)


def run_trial(
    study: Source,
    patients: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    rtol: Optional[float] = None,
) -> TrialResult:
    """Run a virtual trial, as ``cartkin trial STUDY --out DIR``, holding it in memory.

    Parameters
    ----------
    study : str, os.PathLike or dict
        A study: a built-in study's name (``"eliana"``), a ``.toml`` file, its TOML text,
        or a dict of the same keys.
    patients, seed : int, optional
        Override the study's number of patients (1 to ``MAX_IN_MEMORY_PATIENTS``) and seed.
    threads : int, optional
        Worker threads (default: every core). Results do not depend on it.
    rtol : float, optional
        Relative tolerance of the solver.

    Returns
    -------
    TrialResult
        ``summary`` (summary.json) and ``patients`` (the columns of patients.csv).

    Raises
    ------
    ValueError
        Bad study or option, with the command line's message.
    RuntimeError
        The run could not complete.
    KeyboardInterrupt
        Ctrl-C: the trial stops after the chunk of 1,024 patients under way.

    Notes
    -----
    The GIL is released while the trial runs. The whole ``patients.csv`` is held in
    memory (about 1 kB per patient while it is read, then 8 bytes per number).
    """
    summary, cols = _cartkin.run_trial(_source_text(study, study=True), patients, seed, threads, rtol)
    return TrialResult(summary, cols)


def models() -> List[Dict[str, Any]]:
    """The built-in models, populations and studies, in the order ``cartkin models`` lists
    them; each a dict with a ``kind``:

    - ``"model"``: ``name``, ``version``, ``states`` and ``units`` (lists of str);
    - ``"population"``: ``name`` (as a study's ``population`` key), ``model``,
      ``description``;
    - ``"study"``: ``name`` (accepted wherever a study is) and ``toml`` (its text).
    """
    return _cartkin.models()
