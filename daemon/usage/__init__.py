"""The usage databank: one SQLite row per request, written off the request path, read by the CLI.

record      UsageRecord: one row (tokens, cache tokens, cost, latency, project, client, ...)
store       the schema and its named migrations; open_db, mark_interrupted
writer      UsageWriter: the one thread that batches rows into SQLite; health() for /health and status
pricing     what a row cost, by LiteLLM's cost functions, in the writer thread before the insert
reprice     `memproxy db reprice`: stored rows priced again from their stored usage
backlog     rows SQLite has not taken yet (disk full, damaged, locked): memory, then the spool
spool       the JSON-lines file beside the databank those rows wait in, replayed at start
integrity   quick_check at start (`up` refuses a damaged databank); `memproxy db recover`
query       reading rows for `memproxy logs` (filters, search, follow)
stats       `memproxy stats`: groups, percentiles, cost per period
unrouted    `memproxy stats --unrouted`: requested names no deployment serves, the alias to add
retention   `logging.retention_days`: pruning old rows daily
"""
