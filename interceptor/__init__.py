"""The edge: per-project ports from a registry, the streaming forwarder, wrapping a command.

registry       the project → port file (ports.json), assigned under a lock
listeners      every registered project's port, hosted in the daemon's loop
forwarder      one port's raw ASGI app: relays to the gateway, adds project and master key
request_body   the tool's body as it is streamed up, kept until the answer starts (for one replay)
port_token     the token project ports require with `interceptor.auth: token` (shared machines)
notify         telling the running daemon the registry changed
wrap           `intercept -- CMD`: CMD's environment and command line, its exit code
tool_config    what opencode and llm need beyond the environment
"""
