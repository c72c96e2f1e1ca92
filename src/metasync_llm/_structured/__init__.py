"""Structured output: JSON Schema checks of answers (``_schema``) and JSON repair
(``_json_output``), loaded on the first call that asks for them."""
