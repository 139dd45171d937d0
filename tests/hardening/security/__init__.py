"""Security hardening against the real daemon (`memproxy up`): who may talk to it, what a request may
ask for, and where keys may (never) show up. One daemon for the package (conftest.py)."""
