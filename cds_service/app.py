"""Flask application factory: the transport layer. Routes stay a few lines each."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from cds_service.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    app.config["ICAHT_SETTINGS"] = settings or Settings.from_env()

    @app.get("/cds-services")
    def discovery() -> ResponseReturnValue:
        # CDS Hooks 2.0 discovery; the hook services register here as they land (issue 5)
        return jsonify({"services": []}), 200

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"status": "ok"}), 200

    return app
