"""The Postfix policy delegation door (`mailrep serve --policy HOST:PORT`).

    protocol   the SMTPD_POLICY_README codec: request bytes -> attributes, action -> reply bytes
    verdict    pure: attributes + the in-memory view (zone snapshot, scores) + config -> action
    server     the asyncio TCP loop: many requests per connection, volume counted per client

Like `dns`, it answers from an in-memory snapshot swapped in by the composition root and never
queries the store per request; volume counts leave through a flush callback.
"""
