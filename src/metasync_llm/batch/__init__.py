"""Batch jobs: many requests through the catalog's models, resumable, within rate limits.

``run_batch`` (and ``arun_batch``) run a job on this machine's asyncio loop; with
``engine="ray"`` (``pip install "metasync-llm[ray]"``) the same job runs on Ray Data.
"""

from metasync_llm.batch._progress import Progress
from metasync_llm.batch._requests import BatchRequest, Catalog, InputProblem
from metasync_llm.batch._runner import arun_batch, run_batch
from metasync_llm.batch._summary import BatchSummary

__all__ = [
    "BatchRequest",
    "BatchSummary",
    "Catalog",
    "InputProblem",
    "Progress",
    "arun_batch",
    "run_batch",
]
