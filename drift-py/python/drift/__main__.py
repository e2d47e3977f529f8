"""``python -m drift serve|pub|sub`` (also the ``drift`` console script).

Mirrors the Rust ``drift`` command: the same subcommands, options and
environment variables (``DRIFT_URL``, ``DRIFT_CACERT``, ``DRIFT_LISTEN``, …).
Ctrl-C (or SIGTERM for ``serve``) stops cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
from typing import IO, Optional, Sequence

import drift


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift", description="Drift: topic-based publish/subscribe over HTTP/2."
    )
    parser.add_argument("--version", action="version", version=f"drift {drift.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="Run a Drift server.")
    serve.add_argument(
        "--listen",
        default=os.environ.get("DRIFT_LISTEN", "127.0.0.1:5500"),
        help="address and port to listen on (default 127.0.0.1:5500)",
    )
    serve.add_argument(
        "--cert",
        default=os.environ.get("DRIFT_CERT"),
        help="TLS certificate chain (PEM); without --cert/--key a self-signed "
        "certificate for localhost is generated",
    )
    serve.add_argument("--key", default=os.environ.get("DRIFT_KEY"), help="TLS private key (PEM)")
    serve.add_argument(
        "--h2c",
        action="store_true",
        default=_env_flag("DRIFT_H2C"),
        help="serve cleartext HTTP/2 (prior knowledge) and HTTP/1.1 instead of TLS",
    )
    serve.add_argument(
        "--cert-dir",
        default=os.environ.get("DRIFT_CERT_DIR", ".drift"),
        help="where the generated certificate is written and reused from (default .drift)",
    )
    serve.add_argument(
        "--history-length",
        type=int,
        default=_env_int("DRIFT_HISTORY_LENGTH", 1000),
        help="history capacity per topic, in messages (default 1000)",
    )
    serve.add_argument(
        "--max-message-bytes",
        type=int,
        default=_env_int("DRIFT_MAX_MESSAGE_BYTES", 1 << 20),
        help="largest message accepted, in bytes",
    )
    serve.add_argument(
        "--heartbeat",
        type=float,
        default=float(_env_int("DRIFT_HEARTBEAT", 15)),
        help="seconds between heartbeats on idle streams (0: none)",
    )
    serve.add_argument(
        "--require-create",
        action="store_true",
        default=_env_flag("DRIFT_REQUIRE_CREATE"),
        help="require PUT before a topic can be published to or subscribed to",
    )

    def connection_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url",
            default=os.environ.get("DRIFT_URL", "https://127.0.0.1:5500"),
            help="server URL: https://HOST:PORT, or http://HOST:PORT for h2c",
        )
        p.add_argument(
            "--cacert",
            metavar="PEM",
            default=os.environ.get("DRIFT_CACERT"),
            help="trust only the CA certificate(s) in this PEM file",
        )
        p.add_argument(
            "--insecure",
            action="store_true",
            default=_env_flag("DRIFT_INSECURE"),
            help="accept any server certificate (development servers only)",
        )
        p.add_argument(
            "-H",
            "--header",
            dest="headers",
            action="append",
            default=[],
            metavar="NAME: VALUE",
            help='extra request header (repeatable), e.g. "Authorization: Bearer TOKEN"',
        )
        p.add_argument(
            "--connect-timeout",
            type=float,
            default=10.0,
            metavar="SECS",
            help="seconds allowed to connect",
        )

    pub = commands.add_parser("pub", help="Publish messages to a topic.")
    pub.add_argument("topic", metavar="TOPIC")
    pub.add_argument(
        "message",
        metavar="MESSAGE",
        nargs="?",
        help="the message; without it each line of standard input is published",
    )
    pub.add_argument("-f", "--file", help="publish the contents of this file as one message")
    pub.add_argument("-v", "--verbose", action="store_true", help="print each message id")
    connection_options(pub)

    sub = commands.add_parser("sub", help="Subscribe to a topic and print its messages.")
    sub.add_argument("topic", metavar="TOPIC")
    sub.add_argument("--history", type=int, metavar="N", help="first replay the newest N messages")
    sub.add_argument(
        "--since",
        type=float,
        metavar="UNIX_SECONDS",
        help="first replay the messages published after this time",
    )
    sub.add_argument("--after", metavar="EPOCH-SEQ", help="first replay the messages after this id")
    sub.add_argument("--format", choices=("lines", "raw", "json"), default="lines")
    sub.add_argument("--on-slow", choices=("disconnect", "drop"), default="disconnect")
    sub.add_argument("-n", "--count", type=int, metavar="COUNT", help="exit after COUNT messages")
    sub.add_argument("--no-resume", action="store_true", help="do not resume after a disconnect")
    sub.add_argument(
        "-v", "--verbose", action="store_true", help="say on standard error when subscribed"
    )
    connection_options(sub)
    return parser


def _client(args: argparse.Namespace) -> drift.Client:
    headers = []
    for header in args.headers:
        name, sep, value = header.partition(":")
        if not sep:
            raise drift.InvalidArgument(f'--header {header!r} is not "Name: value"')
        headers.append((name.strip(), value.strip()))
    return drift.Client(
        args.url,
        cafile=args.cacert,
        insecure=args.insecure,
        headers=headers,
        timeout=args.connect_timeout,
    )


def _serve(args: argparse.Namespace) -> int:
    if (args.cert is None) != (args.key is None):
        raise drift.InvalidArgument("--cert and --key must be given together")
    server = drift.Server(
        args.listen,
        cert=args.cert,
        key=args.key,
        h2c=args.h2c,
        history=args.history_length,
        max_message_bytes=args.max_message_bytes,
        heartbeat=args.heartbeat,
        require_create=args.require_create,
        cert_dir=None if args.h2c or args.cert else os.path.abspath(args.cert_dir),
    )
    stop = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    server.start()
    try:
        kind = "h2c and HTTP/1.1, cleartext" if args.h2c else "HTTP/2 and HTTP/1.1 over TLS"
        print(f"drift {drift.__version__} listening on {server.url} ({kind})", file=sys.stderr)
        if server.ca_cert_path and not args.cert:
            print(
                f"self-signed certificate at {server.ca_cert_path}; "
                f"trust it with: curl --cacert {server.ca_cert_path}",
                file=sys.stderr,
            )
        sys.stderr.flush()
        # Waits in slices so that Ctrl-C is seen at once on every platform.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("stopped", file=sys.stderr)
    return 0


def _publish(args: argparse.Namespace) -> int:
    with _client(args) as client:

        def send(data: bytes) -> None:
            message_id = client.publish(args.topic, data)
            if args.verbose:
                print(message_id, flush=True)

        if args.message is not None and args.file is not None:
            raise drift.InvalidArgument("give MESSAGE or --file, not both")
        if args.message is not None:
            send(args.message.encode())
        elif args.file is not None:
            with open(args.file, "rb") as f:
                send(f.read())
        else:
            for line in sys.stdin.buffer:
                send(line.rstrip(b"\n").rstrip(b"\r"))
    return 0


def _write(out: IO[bytes], message: drift.Message, fmt: str) -> None:
    if fmt == "raw":
        out.write(message.data)
    elif fmt == "lines":
        out.write(message.data + b"\n")
    else:
        record: dict[str, object] = {
            "id": None if message.id is None else str(message.id),
            "seq": message.seq,
            "epoch": message.epoch,
        }
        try:
            record["data"] = message.data.decode("utf-8")
        except UnicodeDecodeError:
            record["data_base64"] = base64.b64encode(message.data).decode("ascii")
        # The time is written by hand to keep all its microsecond digits.
        us = message.time_us
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        line = body[:-1] + f',"time":{us // 1_000_000}.{us % 1_000_000:06d}}}\n'
        out.write(line.encode("utf-8"))
    out.flush()


def _subscribe(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    printed = 0
    with _client(args) as client:
        sub = client.subscribe(
            args.topic,
            history=args.history,
            since=args.since,
            after=args.after,
            on_slow=args.on_slow,
            resume=not args.no_resume,
        )
        with sub:
            if args.verbose:
                print(f"drift: subscribed to {args.topic!r}", file=sys.stderr, flush=True)
            if args.count is not None and args.count <= 0:
                return 0
            for item in sub:
                if isinstance(item, drift.Gap):
                    print(f"drift: gap {item}", file=sys.stderr, flush=True)
                    continue
                try:
                    _write(out, item, args.format)
                except BrokenPipeError:
                    # The reader went away (`drift sub t | head`): done.
                    _silence_stdout()
                    return 0
                printed += 1
                if args.count is not None and printed >= args.count:
                    return 0
            if sub.end_reason is not None:
                print(f"drift: subscription ended: {sub.end_reason}", file=sys.stderr)
    return 0


def _silence_stdout() -> None:
    # Python flushes stdout at exit; after EPIPE that would fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m drift`` and the ``drift`` script."""
    args = _parser().parse_args(argv)
    commands = {"serve": _serve, "pub": _publish, "sub": _subscribe}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 0
    except drift.DriftError as e:
        print(f"drift: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"drift: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
