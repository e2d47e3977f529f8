"""Type stubs of the native module ``drift._drift`` (hand-written; checked by
``python -m mypy.stubtest drift._drift``)."""

import datetime
import os
from collections.abc import Awaitable, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Optional, Union, final

from typing_extensions import Self

__version__: Final[str]

__all__ = [
    "cli",
    "Server",
    "Client",
    "Subscription",
    "AsyncClient",
    "AsyncSubscription",
    "Gap",
    "Message",
    "MessageId",
    "DriftError",
    "ConnectError",
    "TLSError",
    "DriftTimeout",
    "ProtocolError",
    "SubscriptionClosed",
    "InvalidArgument",
    "HTTPError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "Unavailable",
    "StorageError",
    "InsufficientStorage",
    "TooManyRequests",
    "__version__",
]

_Data = Union[bytes, bytearray, memoryview, str]
_Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]
_Since = Union[float, datetime.datetime]
_After = Union["MessageId", str]
_Item = Union["Message", "Gap"]

# ===== exceptions =====

class DriftError(Exception):
    """Base class of every error raised by drift."""

    reason: Optional[str]
    """The reason the server gave, as it wrote it (None when the error is not a server's answer)."""

    retry_after: Optional[float]
    """Seconds the server asked to wait before trying again (its ``Retry-After``), else None."""

class ConnectError(DriftError, ConnectionError):
    """The server could not be reached, or the connection broke."""

class TLSError(ConnectError):
    """TLS set-up or handshake failed (e.g. the server's certificate is not trusted)."""

class DriftTimeout(DriftError, TimeoutError):
    """An operation did not finish within the client's timeout."""

class ProtocolError(DriftError):
    """The peer spoke something that is not the Drift protocol."""

class SubscriptionClosed(DriftError):
    """The subscription or client is closed."""

class InvalidArgument(DriftError, ValueError):
    """An argument is malformed (topic name, message id, URL, option)."""

class HTTPError(DriftError):
    """The server answered with an error status; the message carries its reason."""

    status: int
    """The HTTP status code."""

class BadRequest(HTTPError, InvalidArgument):
    """400: the server rejected a malformed request."""

class Unauthorized(HTTPError):
    """401: credentials are missing or invalid."""

class Forbidden(HTTPError):
    """403: the server does not allow this operation."""

class NotFound(HTTPError):
    """404: no such topic."""

class Conflict(HTTPError):
    """409: the topic exists with another configuration."""

class PayloadTooLarge(HTTPError):
    """413: the message is larger than the server accepts."""

class Unavailable(HTTPError):
    """503: a server limit is reached, or the server is shutting down."""

class StorageError(DriftError):
    """The server's topic store failed: its data directory cannot be used, or a write failed."""

class InsufficientStorage(HTTPError, StorageError):
    """507: the server's topic store has no space left."""

class TooManyRequests(HTTPError):
    """429: a quota of this connection or of the token's subject is used up (subscriptions
    open, topics created, publish rate); ``retry_after`` is the seconds the server asked to
    wait, for a rate quota, else None."""

# ===== values =====

@final
class MessageId:
    """Identifies a message: topic incarnation (``epoch``) and position (``seq``).
    ``str(id)`` is ``"EPOCH-SEQ"``."""

    def __new__(cls, epoch: int, seq: int) -> Self: ...
    @staticmethod
    def parse(text: str) -> MessageId:
        """Parses ``"EPOCH-SEQ"``; raises InvalidArgument when malformed."""
    @property
    def epoch(self) -> int: ...
    @property
    def seq(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __lt__(self, other: MessageId, /) -> bool: ...
    def __le__(self, other: MessageId, /) -> bool: ...
    def __gt__(self, other: MessageId, /) -> bool: ...
    def __ge__(self, other: MessageId, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[int, int]]: ...

@final
class Message:
    """One received message."""

    @property
    def data(self) -> bytes:
        """The payload, exactly as published."""
    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
    @property
    def seq(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def id(self) -> Optional[MessageId]:
        """None from a server that assigns no ids."""
    @property
    def time_us(self) -> int:
        """Publish time, microseconds since the Unix epoch."""
    @property
    def time(self) -> datetime.datetime:
        """Publish time, an aware datetime in UTC."""
    def __bytes__(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(
        self,
    ) -> tuple[Any, tuple[bytes, int, int, int, Optional[tuple[int, int]]]]: ...
    @staticmethod
    def _restore(
        data: bytes, seq: int, epoch: int, time_us: int, id: Optional[tuple[int, int]]
    ) -> Message: ...
    def __len__(self) -> int: ...

@final
class Gap:
    """Messages that will not be delivered: ``from_seq..=to_seq``, with a reason
    (``"expired"``, ``"dropped"`` or ``"epoch"``; for ``"epoch"`` both bounds are 0;
    a later version may add other words)."""

    @property
    def from_seq(self) -> int: ...
    @property
    def to_seq(self) -> int: ...
    @property
    def reason(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

# ===== server =====

@final
class Server:
    """A Drift server running in this process, on threads of its own.

    The keyword options are those of ``drift serve`` with ``_`` for ``-``
    (``queue_messages=`` for ``--queue-messages``); their defaults are
    drift-core's, listed by ``Server.defaults()``. ``None`` (or 0) turns off
    ``history_bytes`` (then ``max_history_bytes`` bounds), ``history_max_age``,
    ``max_history_age``, ``unused_topic_expiry``, ``heartbeat``, ``idle_timeout`` and the
    quotas ``connection_*`` and ``subject_*`` but the bursts (0: as many as the rate);
    durations are seconds."""

    def __new__(
        cls,
        listen: str = "127.0.0.1:0",
        *,
        cert: Optional[Union[str, os.PathLike[str]]] = ...,
        key: Optional[Union[str, os.PathLike[str]]] = ...,
        h2c: bool = ...,
        cert_dir: Optional[Union[str, os.PathLike[str]]] = ...,
        data_dir: Optional[Union[str, os.PathLike[str]]] = ...,
        fsync: str = ...,
        redis: Optional[str] = ...,
        history_length: int = ...,
        history: int = ...,
        history_bytes: Optional[int] = ...,
        history_max_age: Optional[float] = ...,
        max_history_length: int = ...,
        max_history_bytes: int = ...,
        max_history_age: Optional[float] = ...,
        history_memory: int = ...,
        max_message_bytes: int = ...,
        max_topics: int = ...,
        max_subscriptions: int = ...,
        unused_topic_expiry: Optional[float] = ...,
        connection_subscriptions: Optional[int] = ...,
        connection_topic_rate: Optional[int] = ...,
        connection_topic_burst: int = ...,
        connection_publish_rate: Optional[int] = ...,
        connection_publish_burst: int = ...,
        subject_subscriptions: Optional[int] = ...,
        subject_topic_rate: Optional[int] = ...,
        subject_topic_burst: int = ...,
        subject_publish_rate: Optional[int] = ...,
        subject_publish_burst: int = ...,
        queue_messages: int = ...,
        queue_bytes: int = ...,
        heartbeat: Optional[float] = ...,
        require_create: bool = ...,
        max_header_bytes: int = ...,
        max_streams: int = ...,
        max_connections: int = ...,
        handshake_timeout: float = ...,
        idle_timeout: Optional[float] = ...,
        cors_origin: Union[list[str], tuple[str, ...]] = ...,
        jwt_secret_file: Optional[Union[str, os.PathLike[str]]] = ...,
        jwt_public_key: Union[list[str], tuple[str, ...]] = ...,
        jwt_issuer: str = ...,
        jwt_audience: str = ...,
        jwt_allow_no_exp: bool = ...,
        anonymous: Union[list[str], tuple[str, ...]] = ...,
        allow_query_token: bool = ...,
        metrics: bool = ...,
        metrics_listen: str = ...,
        console: str = ...,
        threads: int = ...,
        shutdown_grace: float = ...,
    ) -> Self:
        """``history`` is the earlier name of ``history_length``."""
    @staticmethod
    def defaults() -> dict[str, Any]:
        """Every option (keyword argument) with its default."""
    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def ca_cert(self) -> Optional[str]:
        """The certificate to trust, PEM text (None with h2c)."""
    @property
    def ca_cert_path(self) -> Optional[str]:
        """A file holding ca_cert (None with h2c): the server's certificate file
        when it has one, else a temporary file, removed on stop."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        _exc_type: Optional[type[BaseException]] = None,
        _exc: Optional[BaseException] = None,
        _tb: Optional[TracebackType] = None,
    ) -> bool: ...

# ===== blocking client =====

@final
class Client:
    """A Drift client with blocking methods (GIL released, Ctrl-C works).

    `url` may list several servers separated by commas (nodes sharing topics through
    Redis): the client moves to the next when it cannot reach one."""

    def __new__(
        cls,
        url: str,
        *,
        cafile: Optional[Union[str, os.PathLike[str]]] = None,
        cadata: Optional[Union[str, bytes]] = None,
        insecure: bool = False,
        headers: Optional[_Headers] = None,
        token: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Self: ...
    def publish(self, topic: str, data: _Data) -> MessageId: ...
    def publish_many(self, topic: str, messages: Iterable[_Data]) -> list[MessageId]: ...
    def create(
        self,
        topic: str,
        *,
        history: Optional[bool] = None,
        history_length: Optional[int] = None,
        max_age: Optional[float] = None,
        max_bytes: Optional[int] = None,
    ) -> bool: ...
    def delete(self, topic: str) -> None: ...
    def exists(self, topic: str) -> bool: ...
    def time(self) -> int: ...
    def subscribe(
        self,
        topic: str,
        history: Optional[int] = None,
        since: Optional[_Since] = None,
        after: Optional[_After] = None,
        *,
        on_slow: str = "disconnect",
        resume: bool = True,
    ) -> Subscription: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        _exc_type: Optional[type[BaseException]] = None,
        _exc: Optional[BaseException] = None,
        _tb: Optional[TracebackType] = None,
    ) -> bool: ...

@final
class Subscription:
    """Iterate for Message and Gap items; stops when the server ends it."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> _Item: ...
    def next(self, timeout: Optional[float] = None) -> Optional[_Item]:
        """The next item within ``timeout`` seconds, None when the time is up;
        raises SubscriptionClosed once the subscription is over."""
    def close(self) -> None: ...
    @property
    def topic(self) -> str: ...
    @property
    def last_id(self) -> Optional[MessageId]: ...
    @property
    def end_reason(self) -> Optional[str]:
        """"deleted", "shutdown", "slow consumer", "closed", … or None while it goes on."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        _exc_type: Optional[type[BaseException]] = None,
        _exc: Optional[BaseException] = None,
        _tb: Optional[TracebackType] = None,
    ) -> bool: ...

# ===== asyncio client =====

@final
class AsyncClient:
    """A Drift client for asyncio; the methods of Client as awaitables."""

    def __new__(
        cls,
        url: str,
        *,
        cafile: Optional[Union[str, os.PathLike[str]]] = None,
        cadata: Optional[Union[str, bytes]] = None,
        insecure: bool = False,
        headers: Optional[_Headers] = None,
        token: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Self: ...
    def publish(self, topic: str, data: _Data) -> Awaitable[MessageId]: ...
    def publish_many(self, topic: str, messages: Iterable[_Data]) -> Awaitable[list[MessageId]]: ...
    def create(
        self,
        topic: str,
        *,
        history: Optional[bool] = None,
        history_length: Optional[int] = None,
        max_age: Optional[float] = None,
        max_bytes: Optional[int] = None,
    ) -> Awaitable[bool]: ...
    def delete(self, topic: str) -> Awaitable[None]: ...
    def exists(self, topic: str) -> Awaitable[bool]: ...
    def time(self) -> Awaitable[int]: ...
    def subscribe(
        self,
        topic: str,
        history: Optional[int] = None,
        since: Optional[_Since] = None,
        after: Optional[_After] = None,
        *,
        on_slow: str = "disconnect",
        resume: bool = True,
    ) -> AsyncSubscription:
        """Use ``await client.subscribe(...)`` or ``async with client.subscribe(...) as sub``."""
    def close(self) -> None: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        _exc_type: Optional[type[BaseException]] = None,
        _exc: Optional[BaseException] = None,
        _tb: Optional[TracebackType] = None,
    ) -> Awaitable[bool]: ...

@final
class AsyncSubscription:
    """``async for`` yields Message and Gap items; stops when the server ends it."""

    def __await__(self) -> Generator[Any, None, Self]: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(
        self,
        _exc_type: Optional[type[BaseException]] = None,
        _exc: Optional[BaseException] = None,
        _tb: Optional[TracebackType] = None,
    ) -> Awaitable[bool]: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Awaitable[_Item]: ...
    def close(self) -> None: ...
    @property
    def topic(self) -> str: ...
    @property
    def last_id(self) -> Optional[MessageId]: ...
    @property
    def end_reason(self) -> Optional[str]: ...

def cli(args: list[str]) -> int:
    """Runs the ``drift`` command line (the program's name first); its exit status."""
