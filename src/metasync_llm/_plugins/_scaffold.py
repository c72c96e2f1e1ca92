"""``metasync-llm new-sdk``: write a complete distribution for a new SDK plugin."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from metasync_llm import __version__

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: The marked region of plugin.py that the author replaces with the API call.
BEGIN, END = "# >>> WRITE THE API CALL HERE >>>", "# <<< WRITE THE API CALL HERE <<<"


def names(sdk: str) -> tuple[str, str, str]:
    """``(distribution, package, class)`` for SDK identifier ``sdk``."""
    slug = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", sdk).lower()
    return f"metasync-llm-{slug.replace('_', '-')}", f"metasync_llm_{slug}", f"{sdk}SDK"


def name_in_use(sdk: str) -> str | None:
    """Who already provides SDK ``sdk`` (installed here, or a metasync-llm distribution)."""
    import sys  # noqa: PLC0415

    from metasync_llm._plugins._entry_points import scan  # noqa: PLC0415
    from metasync_llm.hookspecs import ENTRY_POINT_GROUP  # noqa: PLC0415
    from metasync_llm.registry import KNOWN_DISTRIBUTIONS  # noqa: PLC0415

    for ep in scan(sys.path, ENTRY_POINT_GROUP):
        if ep.name == sdk:
            return f"it is installed here, from {ep.distribution or ep.value}"
    if sdk in KNOWN_DISTRIBUTIONS:
        return f"it is the SDK of {KNOWN_DISTRIBUTIONS[sdk]}"
    return None


def write_plugin(sdk: str, directory: Path, *, force: bool = False) -> Path:
    """Write the distribution for ``sdk`` into ``directory``/<distribution>; return its path.

    Raises ``ValueError`` for a name that cannot be an SDK identifier or that another
    distribution already provides (two plugins with one name both stop loading), and
    ``FileExistsError`` when the folder exists; ``force`` overrides both. ``OSError`` for a
    directory that cannot be written.
    """
    if not NAME.match(sdk):
        raise ValueError(
            f"SDK name {sdk!r} must start with a letter and hold only letters, digits and _"
            " (it is the `sdk` field of model documents and the entry-point name)"
        )
    taken = None if force else name_in_use(sdk)
    if taken:
        raise ValueError(
            f"SDK name {sdk!r} is taken: {taken}; two plugins with one name both stop"
            " loading, so pick another name (or --force)"
        )
    dist, package, cls = names(sdk)
    root = directory / dist
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"--dir {directory} is not a directory")
    if root.exists() and not force:
        raise FileExistsError(f"{root} already exists (use --force to overwrite)")
    files = {
        "pyproject.toml": _pyproject(sdk, dist, package, cls),
        "README.md": _readme(sdk, dist),
        f"src/{package}/__init__.py": _init(sdk, package, cls),
        f"src/{package}/py.typed": "",
        f"src/{package}/plugin.py": _plugin(sdk, cls),
        "tests/test_conformance.py": _tests(sdk, dist),
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def _pyproject(sdk: str, dist: str, package: str, cls: str) -> str:
    return textwrap.dedent(f"""\
        [build-system]
        requires = ["hatchling>=1.21"]
        build-backend = "hatchling.build"

        [project]
        name = "{dist}"
        version = "0.1.0"
        description = "metasync-llm SDK plugin `{sdk}`."
        readme = "README.md"
        requires-python = ">=3.11"
        dependencies = [
            "metasync-llm>={__version__}",
            # the provider's client library, e.g. "mysdk-client>=1.0"
        ]

        [project.optional-dependencies]
        # the conformance suite checks schema= too: it needs the core's schema extra
        test = ["pytest>=8", "metasync-llm[schema]>={__version__}"]

        [project.entry-points."metasync_llm.sdks"]
        {sdk} = "{package}.plugin:{cls}"

        [tool.hatch.build.targets.wheel]
        packages = ["src/{package}"]

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        """)


def _readme(sdk: str, dist: str) -> str:
    return textwrap.dedent(f"""\
        # {dist}

        metasync-llm SDK plugin `{sdk}`.

        ```bash
        pip install -e ".[test]"     # then: metasync-llm sdks   lists {sdk}
        pytest                       # the metasync-llm conformance suite
        ```

        ## Model document

        ```json
        {{
          "name": "my-model",
          "sdk": "{sdk}",
          "endpoint": "https://api.example.com/v1",
          "deployment": "model-id",
          "key": "KEY-{sdk.upper()}",
          "maxToken": 8192,
          "cost": {{"tokens": 1000000, "currency": "USD", "input": 1, "output": 2}}
        }}
        ```

        | field | required | meaning |
        |---|---|---|
        | `endpoint` | yes | base URL of the API (`https://`; `http://` only on loopback) |
        | `deployment` | yes | the model id sent to the API |
        | `key` | yes | environment variable holding the API key (`KEY-X` reads `$KEY_X`) |

        ```bash
        KEY_{sdk.upper()}=... metasync-llm complete --model model.json "Hello"
        ```
        """)


def _init(sdk: str, package: str, cls: str) -> str:
    return textwrap.dedent(f'''\
        """metasync-llm SDK plugin ``{sdk}``."""

        from {package}.plugin import {cls}

        __all__ = ["{cls}"]
        ''')


def _plugin(sdk: str, cls: str) -> str:
    return textwrap.dedent(f'''\
        """The ``{sdk}`` SDK plugin for metasync-llm."""

        from __future__ import annotations

        from collections.abc import Iterator, Mapping
        from typing import TYPE_CHECKING, Any

        # toolkit: the core's helpers, each imported on first use; discovery imports this
        # module at every process start, so it stays as light as it is now.
        from metasync_llm import BaseLLMSDK, toolkit

        if TYPE_CHECKING:
            from metasync_llm import Request, StreamEnd

        SDK = "{sdk}"


        class {cls}(BaseLLMSDK):
            """SDK ``{sdk}``. The API call in :meth:`_call_api` is the one part left to write.

            ``stream`` makes one call and yields the whole answer; ``complete`` and
            ``astream`` come from ``BaseLLMSDK`` (built on ``stream``).
            To stream for real, yield each chunk as it arrives; for an async client,
            override ``astream`` too.
            """

            sdk_name = SDK  # get_name() returns it
            # validate_config names each of these that is missing, and checks the
            # endpoint's form; override it for checks of your own.
            required_fields = ("endpoint", "deployment")

            def stream(self, request: Request) -> Iterator[str | StreamEnd]:
                messages = [{{"role": "user", "content": request.user_content}}]
                if request.system_prompt:
                    messages.insert(0, {{"role": "system", "content": request.system_prompt}})
                body = {{
                    "model": request.config["deployment"],
                    "messages": messages,
                    "temperature": request.temperature,
                    "max_tokens": request.max_tokens,
                }}
                reply = self._call_api(request.config, body, request.api_key)
                # This reads an OpenAI-style answer; adapt it to your API's shape.
                choices = reply.get("choices") or [{{}}]
                finish = choices[0].get("finish_reason")
                yield toolkit.require_text(
                    (choices[0].get("message") or {{}}).get("content"), finish, sdk=SDK,
                    model=request.model_name,
                )
                usage = reply.get("usage") or {{}}
                prompt = toolkit.usage_count(usage.get("prompt_tokens"))
                completion = toolkit.usage_count(usage.get("completion_tokens"))
                total = toolkit.total_of(prompt, completion, usage.get("total_tokens"))
                yield toolkit.StreamEnd(prompt, completion, total, finish)

            def _call_api(
                self, config: Mapping[str, Any], body: dict[str, Any], api_key: str | None
            ) -> dict[str, Any]:
                """Send ``body`` to the API at ``config["endpoint"]``; return its JSON answer.

                Import the client library here, not at module level (discovery must stay
                cheap). With a client library, implement ``create_client`` and use
                ``self.client_for(request)``: the core keeps one client per endpoint and
                key; switch the library's own retries off (the core retries). Wait at most
                ``toolkit.timeout_of(config)`` seconds, and read the body's raw bytes with
                ``toolkit.read_json(chunks)`` (streams: ``toolkit.sse_events``), so that the
                attempt's deadline holds against a server that trickles. The core maps the
                library's errors (by HTTP status, body and headers) and scrubs the key.
                """
                {BEGIN}
                raise NotImplementedError(
                    f"{{SDK}}: the API call is not written yet: fill in _call_api in {{__file__}}"
                    f" (timeout {{toolkit.timeout_of(config)}}s)"
                )
                {END}
        ''')


def _tests(sdk: str, dist: str) -> str:
    return textwrap.dedent(f'''\
        """{dist} against the metasync-llm conformance suite.

        A loopback server stands in for the API (here: an OpenAI-style one); its URL
        replaces the document's endpoint. Replace ``replies`` with your API's answers.
        """

        from metasync_llm.testing import SDKConformance
        from metasync_llm.testing.wires import openai_chat


        class TestConformance(SDKConformance):
            sdk_name = "{sdk}"
            model = {{
                "name": "conformance",
                "sdk": "{sdk}",
                "endpoint": "https://api.example.com/v1",
                "deployment": "model-id",
                "key": "KEY-{sdk.upper()}",
            }}
            replies = staticmethod(openai_chat)
        ''')
