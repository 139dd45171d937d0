"""The fake upstream moved to `tests.support.upstream`; this name stays for ``python -m tests.fake_upstream``."""

from tests.support.upstream import *  # noqa: F403
from tests.support.upstream import __all__, main  # noqa: F401

if __name__ == "__main__":
    main()
