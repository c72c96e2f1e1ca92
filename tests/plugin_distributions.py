"""Small plugin distributions, good and broken, built and installed by pip for the tests.

Each is one module and its entry points. SDK plugins come from one template
(:data:`SDK_MODULE`) with the parts that differ filled in: the class, its name, and the
bodies of ``get_name`` and ``complete``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from string import Template

#: A seed-style SDK plugin: get_name, validate_config and complete.
SDK_MODULE = Template("""\
from metasync_llm import BaseLLMSDK, Completion
from metasync_llm._plugin_fields import require_fields


class $cls(BaseLLMSDK):
    requires_api_key = $requires_key

    def get_name(self):
$get_name

    def validate_config(self, config):
        require_fields(config, ["deployment"], sdk=$name)

    def complete(self, config, system_prompt, user_content, temperature, max_tokens,
                 api_key=None):
$complete
""")

#: A module whose class is not a plugin, or misses hooks, or has the wrong signature.
PLAIN_CLASS = Template("""\
from metasync_llm import BaseLLMSDK


class $cls($base):
$body
""")


def sdk_module(
    cls: str,
    name: str,
    complete: str = "return ('ok', 1, 1, 2)",
    *,
    get_name: str | None = None,
    requires_key: bool = True,
) -> str:
    """The source of a seed-style SDK plugin module (bodies are indented for you)."""
    return SDK_MODULE.substitute(
        cls=cls,
        name=repr(name),
        requires_key=requires_key,
        get_name=_body(get_name or f"return {name!r}"),
        complete=_body(complete),
    )


def _body(code: str) -> str:
    return textwrap.indent(textwrap.dedent(code).strip() + "\n", " " * 8)


def _members(code: str) -> str:
    return textwrap.indent(textwrap.dedent(code).strip() + "\n", " " * 4)


@dataclass(frozen=True)
class Dist:
    """One distribution: a single module and its entry points."""

    name: str
    module: str
    source: str
    entry_points: dict[str, str]
    version: str = "1.0"
    group: str = "metasync_llm.sdks"


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

#: Answers whatever the document's "answer" list says: to test the connector's checks.
SCRIPTED_BODY = "return Completion(*config['answer'])"

#: Raises, as the document's "raise" says, exceptions that carry the key in every way a
#: careless plugin or SDK can: to prove none of it reaches an error, a log or a traceback.
RAISER_BODY = """\
kind = config["raise"]
class Upstream(Exception):
    status_code = 500
class Unprintable(Exception):
    def __str__(self):
        return str(1 / 0)
class Echoing(Exception):
    def __str__(self):
        return f"custom text with {api_key}"
if kind == "bytes":
    raise Upstream(api_key.encode(), "more")
if kind == "dict":
    raise Upstream({"headers": {"Authorization": f"Bearer {api_key}"}})
if kind == "list":
    raise Upstream([api_key, 1])
if kind == "str":
    raise Echoing()
if kind == "notes":
    error = Upstream("see the notes")
    error.add_note(f"request sent with {api_key}")
    raise error
if kind == "group":
    raise ExceptionGroup("several", [Upstream(f"one {api_key}"), ValueError(api_key)])
if kind == "cause":
    try:
        raise KeyError(api_key)
    except KeyError as inner:
        raise Upstream("wrapped") from inner
if kind == "context":
    try:
        raise KeyError(api_key)
    except KeyError:
        raise Upstream("while handling")
if kind == "unprintable":
    raise Unprintable()
raise AssertionError(kind)
"""

DISTS = [
    Dist(
        "msl-good",
        "msl_good",
        sdk_module("GoodSDK", "Good", GOOD_BODY),
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
        sdk_module("SDK", "GetNameFail", get_name="raise RuntimeError('get_name exploded')"),
        {"GetNameFail": "msl_getnamefail:SDK"},
    ),
    Dist(
        "msl-mismatch",
        "msl_mismatch",
        sdk_module("SDK", "Actual"),
        {"Declared": "msl_mismatch:SDK"},
    ),
    Dist("msl-dup-a", "msl_dup_a", sdk_module("SDK", "Dup"), {"Dup": "msl_dup_a:SDK"}),
    Dist("msl-dup-b", "msl_dup_b", sdk_module("SDK", "Dup"), {"Dup": "msl_dup_b:SDK"}, "0.9"),
    Dist(
        "msl-notplugin",
        "msl_notplugin",
        PLAIN_CLASS.substitute(
            cls="Plain", base="object", body=_members("def get_name(self):\n    return 'NotPlugin'")
        ),
        {"NotPlugin": "msl_notplugin:Plain"},
    ),
    Dist(
        "msl-abstract",
        "msl_abstract",
        PLAIN_CLASS.substitute(
            cls="SDK",
            base="BaseLLMSDK",
            body=_members(
                "def get_name(self):\n    return 'Abstract'\n\n"
                "def validate_config(self, config):\n    pass\n"
            ),
        ),
        {"Abstract": "msl_abstract:SDK"},
    ),
    Dist(
        "msl-badsig",
        "msl_badsig",
        PLAIN_CLASS.substitute(
            cls="SDK",
            base="BaseLLMSDK",
            body=_members(
                "def get_name(self):\n    return 'BadSig'\n\n"
                "def validate_config(self, config):\n    pass\n\n"
                "def complete(self, config, prompt):\n    return ('x', 1, 1, 2)\n"
            ),
        ),
        {"BadSig": "msl_badsig:SDK"},
    ),
    Dist(
        "msl-malformed",
        "msl_malformed",
        sdk_module("SDK", "Malformed", "return ('text', '12', 3, 15)"),
        {"Malformed": "msl_malformed:SDK"},
    ),
    Dist(
        "msl-raises",
        "msl_raises",
        sdk_module("SDK", "Raises", RAISES_BODY),
        {"Raises": "msl_raises:SDK"},
    ),
    Dist(
        "msl-raiser",
        "msl_raiser",
        sdk_module("SDK", "Raiser", RAISER_BODY),
        {"Raiser": "msl_raiser:SDK"},
    ),
    Dist(
        "msl-scripted",
        "msl_scripted",
        sdk_module("SDK", "Scripted", SCRIPTED_BODY, requires_key=False),
        {"Scripted": "msl_scripted:SDK"},
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
LOADABLE = ["Good", "Malformed", "Raiser", "Raises", "Scripted"]


def write_project(root: Path, dist: Dist) -> Path:
    """Write ``dist`` as a hatchling project under ``root``; return its folder."""
    project = root / dist.name
    (project / dist.module).mkdir(parents=True, exist_ok=True)
    (project / dist.module / "__init__.py").write_text(dist.source)
    eps = "\n".join(f'{name} = "{target}"' for name, target in dist.entry_points.items())
    (project / "pyproject.toml").write_text(
        PYPROJECT.substitute(
            name=dist.name,
            version=dist.version,
            entry_points=eps,
            module=dist.module,
            group=dist.group,
        )
    )
    return project


PYPROJECT = Template("""\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$name"
version = "$version"

[project.entry-points."$group"]
$entry_points

[tool.hatch.build.targets.wheel]
packages = ["$module"]
""")


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
