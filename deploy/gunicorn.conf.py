# gunicorn settings for the ICAHT CDS service (container / Kubernetes).
# Run: gunicorn -c deploy/gunicorn.conf.py 'cds_service.app:create_app()'
# gthread workers: hook calls wait on the EHR's FHIR server, so threads keep the CPU busy
# (../shared/ecosystem.md section 3: 251 req/s vs 39 for sync workers at 50 ms of I/O).
import os

bind = os.environ.get("ICAHT_CDS_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("ICAHT_CDS_WORKERS", "2"))
threads = int(os.environ.get("ICAHT_CDS_THREADS", "8"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # request logs come from the app as JSON, without patient data


def child_exit(server, worker):  # prometheus_client multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415 (only in that mode)

        multiprocess.mark_process_dead(worker.pid)
