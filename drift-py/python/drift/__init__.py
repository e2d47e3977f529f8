"""Drift: topic-based publish/subscribe over HTTP/2.

Run a server inside your program, publish and subscribe with a blocking
client or with asyncio::

    import drift

    with drift.Server() as server:                       # TLS, self-signed cert
        client = drift.Client(server.url, cafile=server.ca_cert_path)
        with client.subscribe("news") as sub:
            client.publish("news", "hello")
            for item in sub:                             # Message or Gap
                print(item.text)
                break

A subscription yields :class:`Message` objects and, when messages will not
come (they left history, the subscriber was too slow with
``on_slow="drop"``, or the topic was recreated), :class:`Gap` objects. It
stops when the server ends it; ``sub.end_reason`` then says why.

Every error is a :class:`DriftError`.
"""

from drift._drift import (
    AsyncClient,
    AsyncSubscription,
    BadRequest,
    Client,
    Conflict,
    ConnectError,
    DriftError,
    DriftTimeout,
    Forbidden,
    Gap,
    HTTPError,
    InsufficientStorage,
    InvalidArgument,
    Message,
    MessageId,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    Server,
    StorageError,
    Subscription,
    SubscriptionClosed,
    TLSError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    __version__,
)

__all__ = [
    "AsyncClient",
    "AsyncSubscription",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectError",
    "DriftError",
    "DriftTimeout",
    "Forbidden",
    "Gap",
    "HTTPError",
    "InsufficientStorage",
    "InvalidArgument",
    "Message",
    "MessageId",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "Server",
    "StorageError",
    "Subscription",
    "SubscriptionClosed",
    "TLSError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "__version__",
]
