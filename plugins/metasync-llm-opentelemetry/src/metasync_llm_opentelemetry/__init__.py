"""metasync-llm observer ``opentelemetry`` (``opentelemetry`` is imported on the first call)."""

from metasync_llm_opentelemetry.observer import OpenTelemetryObserver

__all__ = ["OpenTelemetryObserver"]
