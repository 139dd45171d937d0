"""The hardening matrix: every test drives the real daemon (`memproxy up`) or a real uvicorn server;
the fake upstream is a real server, SQLite is real. Tests print one `FIGURE` line each with what they
measured (`pytest tests/hardening -s | grep FIGURE`); docs/reliability.md holds those figures."""
