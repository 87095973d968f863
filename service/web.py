"""The browser pages: a demo at / and interactive API docs at /docs, served from the package itself."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static", template_folder="templates")


@bp.get("/")
def demo():
    """Paste an article, see its topics, scores and the words behind them."""
    return render_template("demo.html")


@bp.get("/docs")
def docs():
    """Browse the OpenAPI document and try each endpoint."""
    return render_template("docs.html")
