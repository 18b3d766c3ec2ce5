"""gunicorn settings of the service: `icaht-cds serve` starts gunicorn with this module
(`gunicorn -c python:cds_service.gunicorn_conf`), and deploy/gunicorn.conf.py is this module.

Serving model (docs/decisions/0008-serving.md): worker processes for the CPU-bound hook calls
(ICAHT_CDS_WORKERS, by default one per CPU this process may use: cds_service/cpus.py), each a
gevent worker in which a connection costs a greenlet, so slow or idle connections hold neither
a process nor a thread (issue 13 finding 2); request
line and headers must arrive within `keepalive` seconds and a body within
gevent_worker.BODY_TIMEOUT_SECONDS, or the connection is closed. Each worker listens on a
socket of its own (SO_REUSEPORT), so that the kernel spreads connections over the workers
(issue 20: on one shared socket a burst of connections could all land on one worker).

The gunicorn master loads this module and the worker class; neither may import requests or
urllib3 (gevent patches the worker before the application is imported). The store is set up
(schema, SQLite WAL) by `icaht-cds serve` before gunicorn starts, so that the workers never race
on it (issue 13 finding 12).
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from cds_service.cpus import default_workers

bind = "127.0.0.1:8080"  # `icaht-cds serve --host --port` passes its own
workers = default_workers()
worker_class = "cds_service.gevent_worker.BufferingGeventWorker"
# connections one worker holds at once (each a greenlet and a file descriptor); beyond them
# the worker stops accepting until some close
worker_connections = 1000
# one listening socket per worker, bound with SO_REUSEPORT: the kernel hands each new connection
# to one worker's socket by a hash of its addresses. On a socket shared by all workers, every
# idle worker wakes for a new connection and the quickest takes it: 8 connections opened at
# once (a proxy's or an EHR's pool, wrk) all went to one worker in about 1 trial in 10 (30
# trials, 2 or 4 workers), which then served them one call at a time on one core while the
# other core idled (issue 20; benchmarks/peers.py --spread-trials, decision 0008).
reuse_port = True
timeout = 30
graceful_timeout = 10
# also the header read timeout: the gevent worker reads the request line and headers under it
keepalive = 5
# gunicorn's own lines (its error log and the access log) as the app's JSON lines, on stderr
# (cds_service/logs.py): UTC timestamps with milliseconds, the hook instance, access lines
# without query strings. The access log is on: it is the only line for a request that logs no
# event of its own (probes, the SMART app's files, refused calls before the app).
LOG_HANDLER = {"()": "cds_service.logs.json_handler", "stream": "ext://sys.stderr"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"json": LOG_HANDLER},
    # other libraries' warnings (SQLAlchemy, urllib3) in the same format
    "root": {"level": "WARNING", "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["json"], "propagate": False},
        # the app's logger: configure_logging() finds this handler and adds none
        "cds_service": {"level": "INFO", "handlers": ["json"], "propagate": False},
    },
}
# gunicorn 27's management socket: unused, and its default path ($HOME/.gunicorn/gunicorn.ctl)
# is shared by every gunicorn of the user, so servers on one machine would replace each other's
control_socket_disable = True
wsgi_app = "cds_service.app:create_app()"


def post_worker_init(worker: Any) -> None:
    """The app is loaded in this worker: settle the garbage collector (issue 20)."""
    from cds_service.garbage_collector import settle_after_start  # noqa: PLC0415 (the worker)

    settle_after_start()


def on_starting(server: Any) -> None:
    """Refuse to start when the port is taken. With reuse_port the master binds nothing and the
    workers bind with SO_REUSEPORT, which another server of the same user on that port (a second
    `icaht-cds serve`) would accept: both would then serve it, each some of the connections. A
    plain bind fails on any listening socket, SO_REUSEPORT or not."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket path: gunicorn binds it in the master as before
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:
                probe.bind(address[:2])
            except OSError as error:
                server.log.error("Can't listen on %s:%s: %s", address[0], address[1], error)
                sys.exit(1)


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client multiprocess mode: forget the metrics files of a worker that ended."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415 (only in that mode)

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
