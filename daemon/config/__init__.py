"""Configuration: where files live, the one settings object, and the YAML reader behind it.

    paths       Paths: every file memproxy reads or writes, under `MEMPROXY_HOME` or the platform's dirs
    settings    Settings and its sections; `load_settings` (flags > environment > file > defaults)
    secrets     which config values are secret (redacted by value), and masking for `config show`
    trust       refusing a home or config someone else controls; owner-only modes and umask
    file        config.yaml with line numbers, `os.environ/NAME` references, errors naming file and line
    budgets     the `budgets:` section: limits per project and model, thresholds, the alert webhook

Nothing here imports LiteLLM; the CLI reads settings without paying for it.
"""
