"""The production ASGI server, chosen in this one place: uvicorn with uvloop and httptools."""

from __future__ import annotations

import gc
import logging
import math
import signal
import socket
import sys
from pathlib import Path

import click
from quart import Quart
from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import ChangeReload, Multiprocess

from service.config import Settings
from service.http_protocol import ServiceProtocol
from service.keep_alive import ASGIApp, keep_alive_guard
from service.logs import JsonFormatter

# An early answer that closes the connection reads on for this many bodies at most.
LINGER_BODIES = 4
BACKLOG = 2048  # uvicorn's
GC_THRESHOLD = 50_000
# What worker processes import, each building its own app from the environment.
APP_FACTORY = "service.server:served_app"


def listen(host: str, port: int) -> socket.socket:
    """Bind the socket before serving, so `service run` can report the port it got (port 0
    binds a free one), a port in use is an OSError it reports in one line, and every worker
    process accepts on the same socket."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # connections made while the workers start wait in the queue
    except OSError:
        sock.close()
        raise
    return sock


def announce(sock: socket.socket, settings: Settings) -> None:
    """Say where the server listens, at any LOG_LEVEL: tests and scripts read the port here."""
    host, port = sock.getsockname()[:2]
    message = f"Listening on http://{f'[{host}]' if ':' in host else host}:{port}"
    if settings.log_format == "json":
        record = logging.LogRecord("service.server", logging.INFO, __file__, 0, message, (), None)
        click.echo(JsonFormatter().format(record), err=True)
    else:
        click.secho(message, fg="green", err=True)


def served(app: Quart, settings: Settings) -> ASGIApp:
    """The app as the server runs it: behind the keep-alive guard, and with what start-up
    made frozen out of the garbage collector's way (it lives as long as the process, and
    scanning it again on every collection cost about a tenth of a small request)."""
    app.before_serving(_freeze_startup_objects)
    return keep_alive_guard(app, linger_limit=LINGER_BODIES * settings.MAX_CONTENT_LENGTH)


async def _freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived objects that reference counting frees;
    # the collector need not look for cycles among them every 700 allocations.
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def served_app() -> ASGIApp:
    """A worker process's app (APP_FACTORY), built from the environment's settings."""
    from service.app import create_app

    app = create_app()
    return served(app, app.extensions["settings"])


def serve(
    sock: socket.socket, settings: Settings, app: Quart, *, workers: int, reload: bool = False
) -> None:
    """Serve on `sock` (from `listen`) until SIGTERM or SIGINT, then stop gracefully: stop
    accepting, let in-flight requests finish for SHUTDOWN_GRACE_SECONDS, exit 0.

    One worker serves `app` in this process; more workers, or `reload`, run APP_FACTORY in
    child processes that share the socket (this process supervises them).
    """
    config = Config(
        served(app, settings) if workers == 1 and not reload else APP_FACTORY,
        factory=workers > 1 or reload,
        workers=1 if reload else workers,
        reload=reload,
        reload_dirs=[str(Path(__file__).parent)] if reload else None,
        loop="uvloop",
        http=ServiceProtocol,
        ws="none",  # no WebSocket routes: ServiceProtocol answers an upgrade with a 404
        lifespan="on",
        interface="asgi3",
        log_config=None,  # the app's logging applies; uvicorn's records go to the root logger
        access_log=False,  # the app logs each request itself, with its request id
        server_header=False,  # the contract: no header naming the implementation
        proxy_headers=False,  # the app decides whom to trust with X-Forwarded-For
        backlog=BACKLOG,
        timeout_graceful_shutdown=math.ceil(settings.SHUTDOWN_GRACE_SECONDS),
    )
    # After its graceful stop uvicorn raises the signal again, for the handler found at the
    # start: this one, so that the stop is a clean exit rather than death by signal.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: None)
    if reload:
        ChangeReload(config, target=Server(config).run, sockets=[sock]).run()
    elif workers > 1:
        supervisor = _Workers(config, sockets=[sock])
        supervisor.run()
        # A worker that could not start stops them all; say so as one worker would.
        if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
            sys.exit(STARTUP_FAILURE)
    else:
        Server(config).run(sockets=[sock])


class _Workers(Multiprocess):
    """The supervisor of several workers; it closes its copy of the socket on a stop, so
    that once the workers have closed theirs new connections are refused at once."""

    def handle_term(self) -> None:
        self._stop_accepting()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_accepting()
        super().handle_int()

    def _stop_accepting(self) -> None:
        for sock in self.sockets:
            sock.close()
