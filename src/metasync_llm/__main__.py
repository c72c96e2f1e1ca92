"""``python -m metasync_llm`` runs the CLI."""

from metasync_llm.cli import main

raise SystemExit(main())
