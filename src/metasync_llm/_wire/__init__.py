"""Reading what providers send, and mapping what they raise.

- ``_sse``: the sans-IO server-sent-events parser and its byte-stream loops, JSON bodies,
  each read under the attempt's deadline.
- ``_reader``: the one sync and one async loop that read an answer through a plugin's
  sans-IO reader.
- ``_answers``: strict reading of usage counts and of an answer's text.
- ``_mapping``: foreign exceptions and HTTP errors into the core's hierarchy.
- ``_clients``: SDK client caches, closed when the process ends.
- ``_scrub``: keys removed from exceptions and their chains.

Plugins reach these through :mod:`metasync_llm.toolkit`.
"""
