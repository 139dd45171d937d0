"""memproxy's gateway process: settings, app factory, routes, LiteLLM calls, usage store, lifecycle."""

__version__ = "0.1.0"
