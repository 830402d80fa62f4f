"""The only HTTP: the Kathan API client, its pacing, paging and error wording.

    credentials.py  the API URL default, env names, Credentials (no httpx: validate imports it)
    redact.py       secrets out of every message a server could echo (no httpx)
    pacing.py       RetryPolicy and the shared rate-limit budget (X-RateLimit-*, 429 waits)
    paging.py       walking GET /assistants page by page
    wording.py      API errors as one-line messages
    client.py       KathanClient: one method per endpoint
    openapi.py      the API's own request schema from GET /openapi.json

Importing this package imports nothing heavy: each module is imported where it is needed.
"""
