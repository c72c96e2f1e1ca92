"""Plugins: finding them, checking them, and the ones the core ships.

- ``_entry_points``: reads entry points from dist-info folders (no ``importlib.metadata``).
- ``_discovery``: loads each entry point on its own and records the outcome.
- ``_policing``: the pluggy manager and the contract's checks of a plugin's hooks.
- ``_records``: what discovery found (plugin origins, failures, the discovery itself).
- ``_builtin``: the offline ``test`` SDK.
- ``_scaffold``: writes a new plugin distribution (``metasync-llm new-sdk``).

The public door is :mod:`metasync_llm.registry`.
"""
