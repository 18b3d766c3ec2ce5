# gunicorn settings for the ICAHT CDS service (container / Kubernetes).
# Run: gunicorn -c deploy/gunicorn.conf.py 'cds_service.app:create_app()'
# gthread worker class; processes rather than threads by default: a hook call with prefetch is
# CPU-bound (parse, map, grade), and threads of one process queue behind the GIL (measured in
# docs/decisions/0008-serving.md: 4 workers x 1 thread 223 req/s, p95 72 ms at concurrency 8;
# 2 x 8: 104 req/s, p95 641 ms). Raise ICAHT_CDS_THREADS when most calls wait on a slow FHIR
# server without prefetch.
import os

bind = os.environ.get("ICAHT_CDS_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("ICAHT_CDS_WORKERS", "4"))
threads = int(os.environ.get("ICAHT_CDS_THREADS", "1"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # request logs come from the app as JSON, without patient data


def child_exit(server, worker):  # prometheus_client multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415 (only in that mode)

        multiprocess.mark_process_dead(worker.pid)
