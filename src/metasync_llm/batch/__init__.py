"""Batch jobs: many requests through the catalog's models, resumable, within rate limits.

``run_batch`` (and ``arun_batch``) run a job on this machine's asyncio loop;
``run_on_ray`` (``pip install "metasync-llm[ray]"``) runs the same job on Ray Data.
"""

from metasync_llm.batch._output import OutputError, OutputLockedError
from metasync_llm.batch._progress import Progress
from metasync_llm.batch._ray import run_on_ray
from metasync_llm.batch._requests import BatchRequest, Catalog, InputProblem
from metasync_llm.batch._runner import arun_batch, run_batch
from metasync_llm.batch._summary import BatchSummary

__all__ = [
    "BatchRequest",
    "BatchSummary",
    "Catalog",
    "InputProblem",
    "OutputError",
    "OutputLockedError",
    "Progress",
    "arun_batch",
    "run_batch",
    "run_on_ray",
]
