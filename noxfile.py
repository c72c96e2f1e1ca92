"""Sessions: tests (core and every plugin), quick (the developer loop), lint (ruff), typecheck
(mypy --strict), build, bench.

Every session runs on the interpreter nox runs on (any Python 3.11+); ``nox
--force-python 3.12`` picks another. An interpreter that is missing, or older than 3.11,
is an error, never a skipped (green) session.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("plugins/*/pyproject.toml"))
PEERS = ROOT.parent / "shared" / "peers" / "peers.sh"
DIST = ROOT / "dist"

if sys.version_info < (3, 11):  # noqa: UP036 - nox itself may run on an older Python
    raise SystemExit(f"metasync-llm needs Python 3.11+; nox runs on {sys.version.split()[0]}")


def _supported(session: nox.Session) -> None:
    version = session.run(
        "python", "-c", "import sys; print(sys.version_info >= (3, 11))", silent=True
    )
    if not version or version.strip() != "True":
        session.error("metasync-llm needs Python 3.11 or newer for this session")


@nox.session(python=None)
def tests(session: nox.Session) -> None:
    """Install the core and every plugin (not editable), then run all their tests."""
    _supported(session)
    session.install(".[test,ray]", *PLUGINS)
    # The report lets CI check that tests ran: "nothing ran" must never pass as green.
    report = Path(session.virtualenv.location) / "junit.xml"
    _pytest(session, f"--junitxml={report}")


@nox.session(python=None)
def quick(session: nox.Session) -> None:
    """The developer loop: editable installs, the slow tests (throwaway distributions and
    virtualenvs, Ray) left out; ``nox -s quick -- -k gemini`` narrows it further."""
    _supported(session)
    session.install("-e", ".[test]", *(arg for plugin in PLUGINS for arg in ("-e", plugin)))
    _pytest(session, "-m", "not slow", "-q")


def _pytest(session: nox.Session, *options: str) -> None:
    """pytest on the core's and every plugin's tests, with the peers' mock servers up."""
    test_dirs = ["tests", *(f"{p}/tests" for p in PLUGINS if (ROOT / p / "tests").is_dir())]
    env = {}
    if PLUGINS and PEERS.exists():
        # The providers' OpenAPI specs, served on 127.0.0.1 (see README, "Tests").
        session.run("bash", str(PEERS), "start", external=True)
        env["METASYNC_PEERS_SH"] = str(PEERS)
    session.run("pytest", *options, *test_dirs, *session.posargs, env=env)


@nox.session(python=None)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=None)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the sources of the core and of every plugin."""
    _supported(session)
    session.install(
        "mypy>=1.10",
        "pytest>=8",
        "types-jsonschema",
        "types-regex",
        "types-tqdm",
        ".[schema,ray]",
        *PLUGINS,
    )
    sources = ["src", *(f"{p}/src" for p in PLUGINS)]
    session.run("mypy", "--strict", *sources)


@nox.session(python=None)
def build(session: nox.Session) -> None:
    """Wheels and sdists of the core and every plugin, with their dependencies, in dist/.

    ``pip install --no-index --find-links dist metasync-llm metasync-llm-openai`` then
    installs by name from that folder alone.
    """
    _supported(session)
    session.install("build>=1", "pip>=23")
    DIST.mkdir(exist_ok=True)
    for project in (".", *PLUGINS):
        session.run("python", "-m", "build", "--outdir", str(DIST), project)
    # The dependencies' wheels beside ours, so the folder installs without an index.
    # The core's with its schema and batch extras: `--schema` and `batch` work after an
    # install by name (`pip install --find-links dist "metasync-llm[schema]"`).
    wheels = [
        f"{w}[schema,batch]" if w.name.startswith("metasync_llm-") else str(w)
        for w in DIST.glob("metasync_llm*.whl")
    ]
    session.run("python", "-m", "pip", "download", "--dest", str(DIST), *wheels)


@nox.session(python=None)
def bench(session: nox.Session) -> None:
    """Benchmarks against the raw SDKs and LiteLLM: prints a table, writes bench/results/."""
    _supported(session)
    session.install(".[ray]", *PLUGINS)
    # LiteLLM pins its own openai: it gets a virtualenv of its own, beside this one.
    litellm = Path(session.virtualenv.location).parent / "bench-litellm"
    python = litellm / "bin" / "python"
    if not python.exists():
        session.run("python", "-m", "venv", str(litellm))
        session.run(str(python), "-m", "pip", "install", "--quiet", "litellm", external=True)
    session.run("python", "bench/run.py", "--litellm-python", str(python), *session.posargs)
