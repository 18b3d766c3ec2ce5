"""The floor of benchmarks/peers.py: a Flask app that only parses the JSON body and answers no
cards. gunicorn loads it in its workers (`benchmarks._floor:floor_app()`), under the service's
worker settings, so that the difference to the service is the service's own work."""

from __future__ import annotations

from typing import Any


def floor_app() -> Any:
    """The floor: parse the JSON body, answer no cards (gunicorn loads it in its workers)."""
    from flask import Flask, jsonify, request  # noqa: PLC0415 (imported in the worker)

    app = Flask("floor")

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str) -> Any:
        request.get_json(force=True)
        return jsonify({"cards": []})

    return app
