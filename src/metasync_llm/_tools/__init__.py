"""Tool calling: the tools a caller offers (``_define``), the calls a model makes
(``_calls``) and the loop that runs them (``_loop``). The public names are in
``metasync_llm.tools``."""
