"""Small throwaway plugin distributions, built and installed by pip for discovery tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

HEADER = """\
from metasync_llm import BaseLLMSDK, Completion
from metasync_llm.model import require_fields
"""


@dataclass(frozen=True)
class Dist:
    """One throwaway distribution: a single module and its entry points."""

    name: str
    module: str
    source: str
    entry_points: dict[str, str]
    version: str = "1.0"


def _sdk(cls: str, name: str, body: str = "", *, key: bool = True) -> str:
    return (
        HEADER
        + textwrap.dedent(f"""

    class {cls}(BaseLLMSDK):
        requires_api_key = {key}

        def get_name(self):
            return {name!r}

        def validate_config(self, config):
            require_fields(config, ["deployment"], sdk={name!r})

        def complete(self, config, system_prompt, user_content, temperature, max_tokens,
                     api_key=None):
    """)
        + textwrap.indent(textwrap.dedent(body) or "return ('ok', 1, 1, 2)\n", " " * 8)
    )


GOOD_BODY = """\
import hashlib
digest = hashlib.sha256((api_key or "").encode()).hexdigest()[:12]
return Completion(f"{user_content}|key:{digest}", 3, 4, 7, "stop", "req-good")
"""

#: Raises an SDK-style exception that carries an HTTP status and echoes the key back,
#: as careless SDKs do, to prove the connector maps it and scrubs the key.
RAISES_BODY = """\
class ProviderRateLimit(Exception):
    status_code = 429
    request_id = "req-raises"
raise ProviderRateLimit(f"slow down, key {api_key} is over its quota")
"""

DISTS = [
    Dist(
        "msl-good",
        "msl_good",
        _sdk("GoodSDK", "Good", GOOD_BODY),
        {"Good": "msl_good:GoodSDK"},
        "2.3.4",
    ),
    Dist(
        "msl-importfail",
        "msl_importfail",
        "import msl_module_that_does_not_exist  # noqa\n",
        {"ImportFail": "msl_importfail:SDK"},
    ),
    Dist(
        "msl-getnamefail",
        "msl_getnamefail",
        _sdk("SDK", "GetNameFail").replace(
            "return 'GetNameFail'", "raise RuntimeError('get_name exploded')"
        ),
        {"GetNameFail": "msl_getnamefail:SDK"},
    ),
    Dist("msl-mismatch", "msl_mismatch", _sdk("SDK", "Actual"), {"Declared": "msl_mismatch:SDK"}),
    Dist("msl-dup-a", "msl_dup_a", _sdk("SDK", "Dup"), {"Dup": "msl_dup_a:SDK"}),
    Dist("msl-dup-b", "msl_dup_b", _sdk("SDK", "Dup"), {"Dup": "msl_dup_b:SDK"}, "0.9"),
    Dist(
        "msl-notplugin",
        "msl_notplugin",
        "class Plain:\n    def get_name(self):\n        return 'NotPlugin'\n",
        {"NotPlugin": "msl_notplugin:Plain"},
    ),
    Dist(
        "msl-abstract",
        "msl_abstract",
        HEADER
        + textwrap.dedent("""
         class SDK(BaseLLMSDK):
             def get_name(self):
                 return "Abstract"

             def validate_config(self, config):
                 pass
         """),
        {"Abstract": "msl_abstract:SDK"},
    ),
    Dist(
        "msl-badsig",
        "msl_badsig",
        HEADER
        + textwrap.dedent("""
         class SDK(BaseLLMSDK):
             def get_name(self):
                 return "BadSig"

             def validate_config(self, config):
                 pass

             def complete(self, config, prompt):
                 return ("x", 1, 1, 2)
         """),
        {"BadSig": "msl_badsig:SDK"},
    ),
    Dist(
        "msl-malformed",
        "msl_malformed",
        _sdk("SDK", "Malformed", "return ('text', '12', 3, 15)\n"),
        {"Malformed": "msl_malformed:SDK"},
    ),
    Dist(
        "msl-raises", "msl_raises", _sdk("SDK", "Raises", RAISES_BODY), {"Raises": "msl_raises:SDK"}
    ),
]

#: Expected failure kind for each broken entry-point name.
BROKEN = {
    "ImportFail": "import-error",
    "GetNameFail": "get-name-error",
    "Declared": "name-mismatch",
    "Dup": "duplicate-name",
    "NotPlugin": "not-a-plugin",
    "Abstract": "missing-hooks",
    "BadSig": "signature-mismatch",
}
LOADABLE = ["Good", "Malformed", "Raises"]


def write_project(root: Path, dist: Dist) -> Path:
    """Write ``dist`` as a hatchling project under ``root``; return its folder."""
    project = root / dist.name
    (project / dist.module).mkdir(parents=True, exist_ok=True)
    (project / dist.module / "__init__.py").write_text(dist.source)
    eps = "\n".join(f'{name} = "{target}"' for name, target in dist.entry_points.items())
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{dist.name}"
        version = "{dist.version}"

        [project.entry-points."metasync_llm.sdks"]
        """)
        + eps
        + f'\n\n[tool.hatch.build.targets.wheel]\npackages = ["{dist.module}"]\n'
    )
    return project


def pip_install(projects: list[Path], target: Path) -> None:
    """Install projects into ``target`` with pip, without dependencies or build isolation."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *map(str, projects),
        ],
        check=True,
    )
