"""Thousands of malformed requests against the real daemon, on the gateway and through a project's
interceptor port: no 5xx caused by client input, no crash, memory flat. One daemon for the package."""
