"""What the tests share, beside the fixtures in tests/conftest.py (no test imports from a conftest).

- ``upstream/``: the fake OpenAI + Anthropic provider, a real server on loopback (replies,
  recording, rendering, the server, and ``ObservingUpstream`` that sees hang-ups).
- ``config``: THE gateway config every test daemon runs (``gateway_config``) and its provider keys.
- ``daemon``: the daemon harness: ``Daemon`` and ``start_daemon`` drive the real daemon through the
  CLI in a home of its own (``clean_env``); `with start_daemon(...) as daemon:` stops it after.
- ``app``: the gateway app in this process under uvicorn (``serve_gateway``), able to look inside.
- ``projects``: project (interceptor) ports and project memory, through the CLI and the SDKs.
- ``ports``: a free port or range (never memproxy's 8764 or 8800-8899), waiting for a port.
- ``polling``: ``wait_for``, polling without a fixed sleep.
- ``processes``: the daemon as a process (pid, memory, a last-resort kill by pid).
- ``databank``: the databank read straight from SQLite.
- ``wire``: raw HTTP on a socket and SSE parsing.
- ``serving``: an ASGI app on a loopback port inside the test's event loop; the test's home paths.
- ``memory``: memory backends for tests (``DictBackend``, Supermemory against its fake).
- ``npm``: Claude Code and Codex installed once from npm, or the test is skipped.
- ``hardening``: what the hardening matrix shares (keys to hunt for, its config, FIGURE lines).
- ``security``, ``faults``, ``fuzzing``: what the packages tests/hardening/security, faults and fuzz
  share (the daemon's limits and raw requests; the router budget, requests and final rows; the
  Hypothesis strategies of hostile requests and the 5xx causes already pinned).
- ``gateway_e2e``: what tests/e2e/gateway shares (the question, price and row checks, dialect errors).
- ``settings_files``: a config file written, loaded and refused, for tests/daemon/config.
"""
