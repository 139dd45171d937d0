"""The `memproxy` command line: thin Typer commands over the daemon and interceptor libraries."""
