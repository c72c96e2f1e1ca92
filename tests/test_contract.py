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


def test_abstract_base_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="complete"):
        BaseLLMSDK()  # type: ignore[abstract]


def test_completion_unpacks_like_the_tuple() -> None:
    c = Completion("t", 1, 2, 3, finish_reason="stop")
    assert tuple(c) == ("t", 1, 2, 3) and c[3] == 3 and len(c) == 4
