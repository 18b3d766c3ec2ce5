"""gunicorn's gevent worker, with the whole request read before the application sees it.

A connection costs a greenlet, not a thread or a process, so slow or idle clients cannot hold
the worker (issue 13 finding 2, issue 20's five-second stalls; docs/decisions/0008-serving.md).
Reading stays bounded in time:
- request line and headers: gunicorn's gevent worker reads them under a timeout of `keepalive`
  seconds (from the connection's opening or the previous answer), then closes the connection;
- body: read here, whole, within BODY_TIMEOUT_SECONDS, else 408 and the connection is closed.
  At most one byte more than the largest body any endpoint accepts is buffered; the endpoint
  then answers 413 (cds_service/request_body.py) and the connection is closed.

This module is imported by the gunicorn master (to load the worker class): it must not import
requests or urllib3, which have to be imported after gevent's monkey-patching in the worker.
"""

from __future__ import annotations

from tempfile import SpooledTemporaryFile
from typing import Any

import gevent
from gunicorn import util
from gunicorn.http.body import Body
from gunicorn.workers.ggevent import GeventWorker

from cds_service.request_body import MAX_HOOK_BODY_BYTES

# The largest accepted body (16 MiB) needs about 1 MB/s to arrive in time; an EHR on the
# hospital network sends a usual 0.1-2 MB hook body in well under a second.
BODY_TIMEOUT_SECONDS = 20.0
MAX_BUFFERED_BODY_BYTES = MAX_HOOK_BODY_BYTES + 1
# bodies above this go to a temporary file, not memory: a thousand connections each sending
# 16 MiB must not hold 16 GB (issue 13 finding 8: memory per worker stays bounded)
IN_MEMORY_BODY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class BufferingGeventWorker(GeventWorker):  # type: ignore[misc]
    """The gevent worker that buffers each request body within a deadline."""

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        if getattr(req, "_expected_100_continue", False):
            # a client that waits for "100 Continue" before its body gets it now, before the
            # body is read, not (as gunicorn would) when the application starts
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req._expected_100_continue = False
        body = _read_body(req)
        if body is None:
            util.write_error(sock, 408, "Request Timeout", "the request body came too slowly")
            # ends this connection's keep-alive loop; the worker then closes the socket
            raise StopIteration("request body timeout")
        size = body.tell()
        body.seek(0)
        if size >= MAX_BUFFERED_BODY_BYTES:
            req.must_close = True  # the rest of the body stays unread: no next request here
        req.body = Body(body)
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            # the other connections' turn before this one reads its next request: a client that
            # sends its next request at once would otherwise find it already read, never yield
            # the hub, and hold the worker while the others wait (issue 20's c=32 tail). Not
            # sleep(0), which may resume this greenlet before the loop polls the sockets; not a
            # timer, which costs a lone client up to a millisecond: idle() returns once the loop
            # has run what is ready, at once when nothing is
            gevent.idle()


def _read_body(req: Any) -> SpooledTemporaryFile[bytes] | None:
    """The body (at most MAX_BUFFERED_BODY_BYTES; in memory up to IN_MEMORY_BODY_BYTES, in a
    temporary file above), or None when it did not arrive in time."""
    # outlives this function: it becomes the request body (an unlinked file, freed with it)
    spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=IN_MEMORY_BODY_BYTES)  # noqa: SIM115
    try:
        with gevent.Timeout(BODY_TIMEOUT_SECONDS):
            while spool.tell() < MAX_BUFFERED_BODY_BYTES:
                wanted = min(READ_CHUNK_BYTES, MAX_BUFFERED_BODY_BYTES - spool.tell())
                chunk: bytes = req.body.read(wanted)
                if not chunk:
                    break
                spool.write(chunk)
    except gevent.Timeout:
        spool.close()
        return None
    return spool
