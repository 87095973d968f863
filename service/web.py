"""The browser pages: a demo at / and interactive API docs at /docs, served from the installed packages.

The docs page is Swagger UI (the ``swagger-ui-bundle-v2`` package ships its
files), rendering ``/openapi.json``: no CDN, nothing fetched at run time.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static", template_folder="templates")

# The two Swagger UI files the page loads; nothing else from the package is served.
SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css"}
# Swagger UI sets inline styles; the page's own script is a file, so scripts stay 'self' only.
DOCS_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


@bp.get("/")
def demo():
    """Paste an article, see its topics, scores and the words behind them."""
    return render_template("demo.html")


@bp.get("/docs")
def docs():
    """Browse the OpenAPI document and try each endpoint."""
    return render_template("docs.html"), {"Content-Security-Policy": DOCS_POLICY}


@bp.get("/docs/swagger/<name>")
def swagger_asset(name: str):
    """Serve one of Swagger UI's files from the installed package."""
    if name not in SWAGGER_FILES:
        abort(404)
    return send_from_directory(swagger_ui_path, name, max_age=86400)
