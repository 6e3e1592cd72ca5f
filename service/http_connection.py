"""`ServiceConnection`: Quart's HTTP connection, run in the task the server gave the request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import cast

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.asgi import ASGIHTTPConnection, _handle_exception
from quart.typing import ResponseTypes
from quart.wrappers import Request, Response

from service.http_cycle import CLIENT_GONE, ClientGone


class ServiceConnection(ASGIHTTPConnection):
    """Quart's connection, with one task per request instead of three, or none of its own.

    Quart starts a task that reads the body, another that handles the request, and a third
    for the time limit on sending the answer, and waits on them; on a small request that
    machinery cost more than all the service's hooks. Here the request is handled in the
    server's own task and the answer's time limit is a timer (`asyncio.timeout`). The body
    reader is a task, except for a request without a body served by `ServiceProtocol`,
    which says through `ClientGone` when the client leaves. As in Quart, a client that
    disconnects before its answer has the work on its request cancelled.
    """

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        gone = self.scope.get("extensions", {}).get(CLIENT_GONE)
        if isinstance(gone, ClientGone) and not _may_have_body(self.scope["headers"]):
            await self._serve_without_body(request, gone, send)
        else:
            await self._serve_with_reader(request, receive, send)

    async def _serve_without_body(
        self, request: Request, gone: ClientGone, send: ASGISendCallable
    ) -> None:
        request.body.set_complete()  # nothing to read
        handler = cast(asyncio.Task[None], asyncio.current_task())
        left = False

        def stop() -> None:
            nonlocal left
            left = True
            handler.cancel()

        gone.callback = stop
        try:
            await self.handle_request(request, send)
        except asyncio.CancelledError:
            if not left:
                raise  # cancelled from outside: the server is stopping
            handler.uncancel()  # the client left: its work is stopped, nothing to answer
        finally:
            gone.callback = None

    async def _serve_with_reader(
        self, request: Request, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        handler = cast(asyncio.Task[None], asyncio.current_task())
        reader = asyncio.ensure_future(self.handle_messages(request, receive))

        def stop_if_client_left(_: object) -> None:
            handler.cancel()  # the reader ends early only when the client disconnects

        reader.add_done_callback(stop_if_client_left)
        try:
            if any(name == b"expect" for name, _ in self.scope["headers"]):
                await asyncio.sleep(0)  # the reader asks first, so `100 Continue` goes out first
            await self.handle_request(request, send)
        except asyncio.CancelledError:
            if not reader.done() or reader.cancelled():
                raise  # cancelled from outside: the server is stopping
            if (error := reader.exception()) is not None:
                raise error from None
            handler.uncancel()  # the client left: its work is stopped, nothing to answer
        finally:
            reader.remove_done_callback(stop_if_client_left)
            reader.cancel()

    async def handle_request(self, request: Request, send: ASGISendCallable) -> None:
        try:
            response: ResponseTypes = await self.app.handle_request(request)
        except Exception as error:  # noqa: BLE001  (raised only in debug and testing: Quart shows it)
            response = await _handle_exception(self.app, error)
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = cast(float | None, response.timeout)
        else:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        try:
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)
        except TimeoutError:
            pass  # as Quart: a client too slow to take its answer gets no more of it


def _may_have_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the head announces a body (a non-zero Content-Length, or chunks)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and int(value) > 0):
            return True  # (the server has checked that a Content-Length is a number)
    return False
