"""The plugin contract: hookspecs, BaseLLMSDK as a pluggy plugin, signature checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy
import pytest

from metasync_llm import BaseLLMSDK, Completion, hookspecs
from metasync_llm.registry import _SDKPluginManager, signature_mismatches


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
