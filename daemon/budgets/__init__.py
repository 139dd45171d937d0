"""Budgets: spending limits per project (and per model), enforced before the upstream call, and alerts.

    table       BudgetTable: the limits that apply to a project (config.yaml's `budgets:` under the CLI's own)
    store       the files: `budgets.json` (limits set by `memproxy budget set`), `budget_alerts.json` (alerts sent)
    spend       what the databank says was spent this day, week and month; the rows `memproxy budget` prints
    ledger      Ledger: running totals seeded from the databank, reservations for requests in flight, admit()
    alerts      Alerter: a threshold crossed once per period → the daemon log, a desktop notification, a webhook

Stdlib and pydantic only (no LiteLLM): `memproxy budget`, `status` and `ports` read them for free.
See docs/budgets.md.
"""
