"""The interactive API page at /docs, complete without the network: Swagger UI's files
come from the installed `flask-swagger-ui` package (its `dist` folder, the Swagger UI
release named by the package's version), never from a CDN. The page runs no inline
script, so its Content-Security-Policy allows scripts, styles and requests from this
origin only."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory, url_for

SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))
PAGE_FILES = Path(__file__).resolve().parent / "docs_page"
PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # the document, and "Try it out"
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

blueprint = Blueprint("docs", __name__, template_folder="docs_page")


@blueprint.get("/docs")
def page():
    settings = {
        "url": url_for("api-docs.openapi_json"),
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "validatorUrl": None,  # else the document goes to validator.swagger.io for a badge
    }
    html = render_template("docs.html", title=current_app.config["API_TITLE"], settings=settings)
    return html, {"Content-Security-Policy": PAGE_POLICY}


@blueprint.get("/docs/docs.js")
def starter():
    return send_from_directory(PAGE_FILES, "docs.js")


@blueprint.get("/docs/assets/<path:filename>")
def asset(filename: str):
    return send_from_directory(SWAGGER_UI_DIST, filename)
