"""The anchor of `bench.py http`: the same four requests as a hand-written Flask +
Flask-SQLAlchemy service answers them, on the service's own tables and rows, with JSON of
the same shape. Bare on purpose: no authentication, validation, storage adapter, metrics
or tracing, and Flask-SQLAlchemy's default engine. It imports nothing of wfplatform.

    ANCHOR_DATABASE_URL=postgresql+psycopg2://... gunicorn benchmarks.anchor:app

    GET   /workflows/<id>                       one workflow by primary key
    GET   /workflows?owner=<user id>&limit=50   the owner's newest, and their total
    POST  /workflows?owner=<user id>            a workflow and its first numbered version
    PATCH /workflows/<id>                       name, description, status or tags"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm.exc import StaleDataError

db = SQLAlchemy()


class Workflow(db.Model):
    __tablename__ = "workflows"
    id = sa.Column(sa.String(36), primary_key=True)
    user_id = sa.Column(sa.String(36), sa.ForeignKey("users.id"))
    name = sa.Column(sa.String(200))
    description = sa.Column(sa.Text)
    status = sa.Column(sa.String(20))
    tags = sa.Column(JSONB)
    nodes = sa.Column(JSONB)
    edges = sa.Column(JSONB)
    settings = sa.Column(JSONB)
    node_types = sa.Column(JSONB)
    credential_types = sa.Column(JSONB)
    search_text = sa.Column(sa.Text)
    version = sa.Column(sa.Integer)
    created_at = sa.Column(sa.DateTime(timezone=True))
    updated_at = sa.Column(sa.DateTime(timezone=True))
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class WorkflowVersion(db.Model):
    __tablename__ = "workflow_versions"
    id = sa.Column(sa.String(36), primary_key=True)
    workflow_id = sa.Column(sa.String(36), sa.ForeignKey("workflows.id"))
    number = sa.Column(sa.Integer)
    name = sa.Column(sa.String(200))
    nodes = sa.Column(JSONB)
    edges = sa.Column(JSONB)
    settings = sa.Column(JSONB)
    created_by = sa.Column(sa.String(36))
    created_at = sa.Column(sa.DateTime(timezone=True))


class User(db.Model):
    __tablename__ = "users"
    id = sa.Column(sa.String(36), primary_key=True)


app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["ANCHOR_DATABASE_URL"]
db.init_app(app)


def as_json(workflow: Workflow) -> dict:
    return {
        "id": workflow.id,
        "owner_id": workflow.user_id,
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "tags": workflow.tags,
        "nodes": workflow.nodes,
        "edges": workflow.edges,
        "settings": workflow.settings,
        "node_types": workflow.node_types,
        "required_credential_types": workflow.credential_types,
        "version": workflow.version,
        "created_at": workflow.created_at.isoformat(),
        "updated_at": workflow.updated_at.isoformat(),
    }


def answer(workflow: Workflow, status: int = 200):
    return jsonify(as_json(workflow)), status, {"ETag": f'"{workflow.version}"'}


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str):
    return answer(db.get_or_404(Workflow, workflow_id))


@app.get("/workflows")
def list_workflows():
    limit = request.args.get("limit", 20, type=int)
    offset = request.args.get("offset", 0, type=int)
    rows = db.session.execute(
        sa.select(Workflow, sa.func.count().over())
        .where(Workflow.user_id == request.args["owner"])
        .order_by(Workflow.updated_at.desc(), Workflow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = rows[0][1] if rows else 0
    items = [as_json(workflow) for workflow, _ in rows]
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset})


@app.post("/workflows")
def create_workflow():
    body = request.get_json()
    now = datetime.now(UTC)
    nodes = body.get("nodes", [])
    workflow = Workflow(
        id=str(uuid.uuid4()),
        user_id=request.args["owner"],
        name=body["name"],
        description=body.get("description", ""),
        status=body.get("status", "draft"),
        tags=body.get("tags", []),
        nodes=nodes,
        edges=body.get("edges", []),
        settings=body.get("settings", {}),
        node_types=sorted({node["type"] for node in nodes}),
        credential_types=sorted({key for node in nodes for key in node.get("credentials", {})}),
        version=1,
        created_at=now,
        updated_at=now,
    )
    workflow.search_text = f"{workflow.name}\n{workflow.description}".casefold()
    db.session.add(workflow)
    db.session.flush()
    db.session.add(
        WorkflowVersion(
            id=str(uuid.uuid4()),
            workflow_id=workflow.id,
            number=1,
            name=workflow.name,
            nodes=workflow.nodes,
            edges=workflow.edges,
            settings=workflow.settings,
            created_by=workflow.user_id,
            created_at=now,
        )
    )
    db.session.commit()
    return answer(workflow, 201)


@app.patch("/workflows/<workflow_id>")
def update_workflow(workflow_id: str):
    workflow = db.get_or_404(Workflow, workflow_id)
    for field, value in request.get_json().items():
        if field in ("name", "description", "status", "tags"):
            setattr(workflow, field, value)
    workflow.search_text = f"{workflow.name}\n{workflow.description}".casefold()
    workflow.version += 1
    workflow.updated_at = datetime.now(UTC)
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        abort(409)
    return answer(workflow)
