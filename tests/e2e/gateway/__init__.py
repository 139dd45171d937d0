"""The real daemon, started with `memproxy up`, answering the official OpenAI and Anthropic SDKs (one
daemon for the package, see conftest.py)."""
