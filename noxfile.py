"""Sessions: tests (core and every plugin), lint (ruff), typecheck (mypy --strict)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PLUGINS = sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("plugins/*/pyproject.toml"))
PEERS = ROOT.parent / "shared" / "peers" / "peers.sh"
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install the core and every plugin (not editable), then run all their tests."""
    session.install(".[test]", *PLUGINS)
    test_dirs = ["tests", *(f"{p}/tests" for p in PLUGINS if (ROOT / p / "tests").is_dir())]
    env = {}
    if PLUGINS and PEERS.exists():
        # The providers' OpenAPI specs, served on 127.0.0.1 (see README, "Tests").
        session.run("bash", str(PEERS), "start", external=True)
        env["METASYNC_PEERS_SH"] = str(PEERS)
    session.run("pytest", *test_dirs, *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the sources of the core and of every plugin."""
    session.install("mypy>=1.10", "pytest>=8", ".", *PLUGINS)
    sources = ["src", *(f"{p}/src" for p in PLUGINS)]
    session.run("mypy", "--strict", *sources)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the raw SDKs and LiteLLM: prints a table, writes bench/results/."""
    session.install(".", *PLUGINS)
    # LiteLLM pins its own openai: it gets a virtualenv of its own, beside this one.
    litellm = Path(session.virtualenv.location).parent / "bench-litellm"
    python = litellm / "bin" / "python"
    if not python.exists():
        session.run("python", "-m", "venv", str(litellm))
        session.run(str(python), "-m", "pip", "install", "--quiet", "litellm", external=True)
    session.run("python", "bench/run.py", "--litellm-python", str(python), *session.posargs)
