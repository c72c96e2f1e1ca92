"""The call pipeline, in call order; every connector entry point goes through it.

- ``_prepare``: check the document (once, for a prepared model) and the arguments, find
  the plugin, clamp, resolve the key; the result is a :class:`~._prepare.Call`, whose
  :class:`~metasync_llm.Request` is what the plugin gets.
- ``_attempt``: the running attempt's deadline, which the wire readers check.
- ``_state``: one call's progress as a sans-IO object (chunks, end marker, retries,
  observer events), shared by both loops.
- ``_run``: the loops: one sync (:class:`CompletionStream`), one async
  (:class:`AsyncCompletionStream`); a blocking call drains a stream that keeps its chunks.
  Re-asking after a schema miss wraps them.
- ``_outcome``: what a plugin's answer becomes (checked, costed, validated, repaired),
  what its exceptions become, and how a re-ask is worded.
- ``_native_schema``: endpoints seen refusing a native schema, remembered.

Nothing is imported here, so that importing ``_attempt`` (the wire readers do) loads
nothing else.
"""
