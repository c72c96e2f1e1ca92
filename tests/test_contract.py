"""The plugin contract: hookspecs, BaseLLMSDK as a pluggy plugin, signature checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy
import pytest

from metasync_llm import BaseLLMSDK, Completion, hookspecs
from metasync_llm.registry import (
    Discovery,
    LoadedSDK,
    PluginInfo,
    _SDKPluginManager,
    registration_problems,
    signature_mismatches,
)


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
    pm = _SDKPluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
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


def test_plain_pluggy_manager_would_not_see_unmarked_methods() -> None:
    """Why the registry's manager exists: pluggy alone needs markers."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Echo())
    assert pm.hook.get_name() is None


def test_matching_signatures_pass() -> None:
    assert signature_mismatches(Echo()) == []


def test_signature_mismatch_names_the_hook_and_parameters() -> None:
    class Wrong(Echo):
        def complete(self, config, prompt, *, verbose):  # type: ignore[override]
            return ("", 0, 0, 0)

    [problem] = signature_mismatches(Wrong())
    assert problem.startswith("complete(config, system_prompt, user_content")
    for word in (
        "missing parameter 'system_prompt'",
        "missing parameter 'api_key'",
        "unexpected required parameter 'prompt'",
        "unexpected required parameter 'verbose'",
    ):
        assert word in problem


def test_kwargs_catch_all_and_optional_extras_are_accepted() -> None:
    class Flexible(Echo):
        def complete(self, config, *args, debug=False, **kwargs):  # type: ignore[override]
            return ("", 0, 0, 0)

    assert signature_mismatches(Flexible()) == []


def test_exact_names_are_not_enough_when_the_kind_is_wrong() -> None:
    """The fast path (the code object) must refuse what the full check refuses."""

    class PositionalOnly(Echo):
        def complete(  # type: ignore[override]
            self, config, /, system_prompt, user_content, temperature, max_tokens, api_key=None
        ):
            return ("", 0, 0, 0)

    class AsyncName(Echo):
        async def get_name(self):  # type: ignore[override]
            return "Echo"

    [problem] = signature_mismatches(PositionalOnly())
    assert "positional-only parameter 'config'" in problem
    [problem] = signature_mismatches(AsyncName())
    assert problem.startswith("get_name()") and "must not be async" in problem


def test_parameters_in_another_order_are_accepted() -> None:
    class Reordered(Echo):
        def complete(  # type: ignore[override]
            self, api_key, max_tokens, temperature, user_content, system_prompt, config
        ):
            return ("", 0, 0, 0)

    assert signature_mismatches(Reordered()) == []


def test_abstract_base_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="complete"):
        BaseLLMSDK()  # type: ignore[abstract]


def test_completion_unpacks_like_the_tuple() -> None:
    c = Completion("t", 1, 2, 3, finish_reason="stop")
    assert tuple(c) == ("t", 1, 2, 3) and c[3] == 3 and len(c) == 4


def test_spec_parameters_read_off_code_objects_match_the_signatures() -> None:
    import inspect

    from metasync_llm.registry import _SPEC_PARAMETERS

    assert set(_SPEC_PARAMETERS) == set(hookspecs.ALL_HOOKS)
    for hook, names in _SPEC_PARAMETERS.items():
        params = inspect.signature(getattr(hookspecs, hook)).parameters
        assert names == tuple(params), hook
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params.values()), hook


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
        (AsWrapper, "get_name is marked @hookimpl(wrapper=...)"),
        (AsSpecname, "validate_config is marked @hookimpl(specname=...)"),
    ],
)
def test_what_pluggy_would_refuse_or_redirect_is_refused_at_discovery(
    cls: type[Echo], expected: str
) -> None:
    [problem] = registration_problems(cls())
    assert problem.startswith(expected)


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

    assert registration_problems(Marked()) == []
    assert registration_problems(Echo()) == []


def test_plugin_manager_is_built_on_first_use_with_every_loaded_sdk() -> None:
    """Discovery checks plugins without pluggy; the manager then accepts every one of them."""

    class Other(Echo):
        def get_name(self) -> str:
            return "Other"

    sdks = {
        name: LoadedSDK(sdk, PluginInfo(name, "d", "1", "m:C"))
        for name, sdk in (("Echo", Echo()), ("Other", Other()))
    }
    found = Discovery(sdks, (), (), None, ())
    assert found._plugin_manager is None
    pm = found.plugin_manager
    assert pm is found.plugin_manager
    for hook in hookspecs.ALL_HOOKS:
        impls = getattr(pm.hook, hook).get_hookimpls()
        assert sorted(impl.plugin_name for impl in impls) == ["Echo", "Other"], hook
    assert pm.get_plugin("Other") is sdks["Other"].sdk
    pm.check_pending()
