"""Routing across model documents: the health of each deployment (``_health``, no I/O)
and the route documents of a catalog (``_documents``). The public door is
``metasync_llm.routing``."""
