"""``python -m tests.support.upstream``: the fake upstream in the foreground."""

from tests.support.upstream.cli import main

main()
