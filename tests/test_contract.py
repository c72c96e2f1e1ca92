"""The plugin contract: hookspecs, BaseLLMSDK as a pluggy plugin, what discovery refuses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pluggy
import pytest

from metasync_llm import BaseLLMSDK, Completion, ConfigurationError, Request, hookspecs
from metasync_llm.registry import new_plugin_manager, plugin_problems


class Echo(BaseLLMSDK):
    def get_name(self) -> str:
        return "Echo"

    def validate_config(self, config: Mapping[str, Any]) -> None:
        pass

    def complete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Completion:
        return Completion(user_content, 1, 1, 2)


def test_subclass_is_a_pluggy_plugin_without_markers() -> None:
    pm = new_plugin_manager()
    pm.register(Echo(), name="Echo")
    assert pm.hook.get_name() == "Echo"
    assert tuple(
        pm.hook.complete(
            config={},
            system_prompt="",
            user_content="hi",
            temperature=1,
            max_tokens=5,
            api_key=None,
        )
    ) == ("hi", 1, 1, 2)
    pm.check_pending()


def test_a_plain_pluggy_manager_sees_the_hooks_too() -> None:
    """BaseLLMSDK marks its subclasses' hook methods, as @hookimpl would."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Echo())
    assert pm.hook.get_name() == "Echo"
    impls = {hook: getattr(pm.hook, hook).get_hookimpls() for hook in hookspecs.SDK_HOOKS}
    assert all(len(found) == 1 for found in impls.values())


def test_matching_signatures_pass() -> None:
    assert plugin_problems(Echo()) == []


def test_signature_mismatch_names_the_hook_and_parameters() -> None:
    class Wrong(Echo):
        def complete(self, config, prompt, *, verbose):  # type: ignore[override]
            return ("", 0, 0, 0)

    problems = plugin_problems(Wrong())
    assert problems[0].startswith("pluggy refused the hooks:") and "'prompt'" in problems[0]
    [ours] = problems[1:]
    assert ours.startswith("complete(config, system_prompt, user_content")
    for word in (
        "missing parameter 'system_prompt'",
        "missing parameter 'api_key'",
        "unexpected required parameter 'prompt'",
        "unexpected required parameter 'verbose'",
    ):
        assert word in ours


def test_kwargs_catch_all_and_optional_extras_are_accepted() -> None:
    class Flexible(Echo):
        def complete(self, config, *args, debug=False, **kwargs):  # type: ignore[override]
            return ("", 0, 0, 0)

    assert plugin_problems(Flexible()) == []


def test_exact_names_are_not_enough_when_the_kind_is_wrong() -> None:
    class PositionalOnly(Echo):
        def complete(  # type: ignore[override]
            self, config, /, system_prompt, user_content, temperature, max_tokens, api_key=None
        ):
            return ("", 0, 0, 0)

    class AsyncName(Echo):
        async def get_name(self):  # type: ignore[override]
            return "Echo"

    [problem] = plugin_problems(PositionalOnly())
    assert "positional-only parameter 'config'" in problem
    assert any(
        p.startswith("get_name()") and "must not be async" in p
        for p in plugin_problems(AsyncName())
    )


def test_parameters_in_another_order_are_accepted() -> None:
    class Reordered(Echo):
        def complete(  # type: ignore[override]
            self, api_key, max_tokens, temperature, user_content, system_prompt, config
        ):
            return ("", 0, 0, 0)

    assert plugin_problems(Reordered()) == []


def test_newer_hooks_take_one_request() -> None:
    class Streams(BaseLLMSDK):
        def get_name(self) -> str:
            return "Streams"

        def validate_config(self, config: Mapping[str, Any]) -> None:
            pass

        def stream(self, request: Request) -> Iterator[Any]:
            yield request.user_content

    class OldStyle(Streams):
        def stream(self, config, system_prompt, user_content, temperature, max_tokens, api_key):  # type: ignore[override]
            yield user_content

    assert plugin_problems(Streams()) == []
    [pluggy_says, *_] = plugin_problems(OldStyle())
    assert "pluggy refused the hooks" in pluggy_says and "'system_prompt'" in pluggy_says


def test_the_base_class_needs_a_name_and_a_call_to_be_instantiated() -> None:
    with pytest.raises(TypeError, match=r"get_name \(or set sdk_name\), complete"):
        BaseLLMSDK()

    class NoCall(BaseLLMSDK):
        def get_name(self) -> str:
            return "NoCall"

        def validate_config(self, config: Mapping[str, Any]) -> None:
            pass

    with pytest.raises(TypeError, match=r"implement complete \(or stream and astream\)$"):
        NoCall()


def test_sdk_name_and_required_fields_are_all_a_plugin_needs_besides_its_call() -> None:
    class Named(BaseLLMSDK):
        sdk_name = "Named"
        required_fields = ("endpoint", "deployment")

        def complete(self, *args: Any, **kwargs: Any) -> tuple[str, int, int, int]:
            return ("x", 1, 1, 2)

    sdk = Named()
    assert sdk.get_name() == "Named"
    sdk.validate_config({"endpoint": "https://x.example", "deployment": "d"})
    with pytest.raises(ConfigurationError, match="deployment") as info:
        sdk.validate_config({"endpoint": "https://x.example"})
    assert info.value.sdk == "Named" and "deployment" in info.value.fields
    with pytest.raises(ConfigurationError, match="timeout"):
        sdk.validate_config({"endpoint": "https://x.example", "deployment": "d", "timeout": -1})


def test_completion_unpacks_like_the_tuple() -> None:
    c = Completion("t", 1, 2, 3, finish_reason="stop")
    assert tuple(c) == ("t", 1, 2, 3) and c[3] == 3 and len(c) == 4


class AsProperty(Echo):
    @property
    def complete(self) -> Any:  # type: ignore[override]
        return lambda *args, **kwargs: ("", 0, 0, 0)


class AsWrapper(Echo):
    @hookspecs.hookimpl(wrapper=True)
    def get_name(self) -> str:
        return "Echo"


class AsSpecname(Echo):
    @hookspecs.hookimpl(specname="get_name", tryfirst=True)
    def validate_config(self, config: Mapping[str, Any]) -> None:
        pass


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (AsProperty, "complete is a property, not a method"),
        (AsWrapper, "Declared as wrapper=True or hookwrapper=True"),
        (AsSpecname, "for hook 'get_name'; hookimpl definition: validate_config"),
    ],
)
def test_what_pluggy_refuses_or_would_redirect_is_refused(cls: type[Echo], expected: str) -> None:
    problems = plugin_problems(cls())
    assert any(expected in problem for problem in problems), problems


def test_harmless_markers_and_static_or_class_methods_are_accepted() -> None:
    class Marked(Echo):
        @hookspecs.hookimpl(tryfirst=True)
        def complete(  # type: ignore[override]
            self, config, system_prompt, user_content, temperature, max_tokens, api_key=None
        ):
            return ("", 0, 0, 0)

        @staticmethod
        def validate_config(config: Mapping[str, Any]) -> None:
            pass

        @classmethod
        def get_name(cls) -> str:
            return "Echo"

    assert plugin_problems(Marked()) == []
    assert plugin_problems(Echo()) == []


def test_a_refused_plugin_leaves_the_manager_as_it_was() -> None:
    pm = new_plugin_manager()
    assert plugin_problems(AsSpecname(), pm)
    assert pm.get_plugins() == set()
    assert plugin_problems(Echo(), pm) == []
    assert pm.get_plugin("Echo") is not None


def test_the_cores_own_hook_methods_match_the_specs() -> None:
    """Discovery does not re-check the core's own methods at every start: this does."""
    from metasync_llm._plugins._builtin import BuiltinTestSDK
    from metasync_llm.chat_completions import ChatCompletionsSDK
    from metasync_llm.registry import signature_problems

    class Minimal(ChatCompletionsSDK):
        sdk_name = "Minimal"

        def stream(self, request: Request) -> Iterator[Any]:
            yield request.user_content

    for sdk in (BuiltinTestSDK(), Echo(), Minimal()):
        assert signature_problems(sdk) == [], type(sdk).__name__
