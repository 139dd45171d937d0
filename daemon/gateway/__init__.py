"""The gateway pipeline: what every request goes through, whatever its endpoint.

    pipeline     generate(): read → validate → credentials → memory → LiteLLM / fast path / tool loop → answer
    endpoint     Endpoint (the seam a route hands in), Plain, Tally (the usage noted; priced later)
    edge         the one error edge: any error → the client's answer, redacted; `guarded` ends every stream
    state        Gateway: the long-lived state (settings, Router, writer, memory, pools, seen keys)
    credentials  which key an upstream call carries (pure)
    chat_only    which deployments speak only Chat Completions, and how the Router is told (pure)
    exchange     Exchange: one request's databank row, its one writer; `redact`
    body         reading a body: size limit, Content-Length, pacing, JSON (a big one off the loop)
    bigjson      a big body parsed in a worker thread in short steps, so the event loop keeps the GIL
    freeing      a big body held until nothing else holds it, then freed in a thread in steps, off the loop
    stored       what the databank keeps of a body or an answer: `logging.max_stored_bytes`, cut visibly
    validation   fields no request may carry; the shape checks routes share
    passthrough  the fast path: the client's bytes to a same-dialect provider, its bytes back
    longstrings  a reader's copy of an SSE stream whose over-long lines have their strings cut, and its events
    responses_feed  the provider's Responses bytes into LiteLLM's decoder: closing texts cut, events checked
    closing_text the text of a translated Responses answer, kept past 1 MiB, written into its closing events
    retry        the fast path's waits: full jitter, Retry-After (both forms), retry-after-ms (pure)
    reach        a refused connection to a deployment on this machine fails fast, before LiteLLM
    sampling     `top_p` beside `temperature` dropped for a Claude model that refuses both (pure)
    answers      an upstream answer no parser should take, or an error dressed as a 200: a 502
    streams      what LiteLLM's stream wrappers kept: a stream that lost an event is not a whole one
    sse          EventStreamResponse (streams with disconnect detection), SSE framing and splitting
    llm          the door to LiteLLM: setup, Router, error mapping, stream introspection
    token_count  count_tokens: the provider's counter (the request as Anthropic's), else LiteLLM's tokenizer
    llm_setup    what llm turns off in LiteLLM once: its per-call pricing (memproxy prices off the path), noise
    encode       JSON out on the request path: orjson, json where orjson refuses (big ints, non-str keys)
    embedder     memory's embeddings through the Router's `aembedding` (`context_retrieval.embedding_model`)

The pipeline never imports a route (`daemon.routes`): routes import it.
"""
