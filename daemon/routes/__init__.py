"""The HTTP routes, one module per endpoint; each holds everything that is particular to it.

    chat          POST /v1/chat/completions   validation, LiteLLM and fast-path relays, replay
    messages      POST /v1/messages           validation, the Anthropic stream watcher and relay, replay
    count_tokens  POST /v1/messages/count_tokens
    responses     POST /v1/responses          validation, usage, the Responses relay and error event
    gemini        POST /v1beta/models/{model}:generateContent, :streamGenerateContent   the key, usage, relay
    embeddings    POST /v1/embeddings
    models        GET  /v1/models
    info          GET  /health, /memory-routing/info; POST /memproxy/ports/sync
    metrics       GET  /metrics

A generating route builds an `Endpoint` (`daemon.gateway.endpoint`) and hands it to the pipeline;
every route answers its errors through `daemon.gateway.edge`. The app factory includes each module's
`router`.
"""
