"""Run a notebook through a Jupyter server's REST API, as JupyterLab in a browser does: a session with a kernel
of its own, each code cell sent over the kernel's websocket, its outputs and errors collected.

Used by the Binder test (the server in the image BinderHub would start) and the JupyterHub room test (each
learner's server, behind the hub's proxy).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


@dataclass
class Ran:
    """One notebook run: its seconds, each code cell's outputs, and the errors shown."""

    path: str
    seconds: float
    outputs: list[list[dict]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def banner(self) -> str:
        """The first output, as JupyterLab shows it (HTML where there is some): the lab's LIVE or REPLAY line."""
        first = next((out for cell in self.outputs for out in cell), {})
        data = first.get("data") or {}
        return data.get("text/html") or data.get("text/plain") or first.get("text", "")

    @property
    def text(self) -> str:
        """Every output's text, in order (streams, plain text, error names and values)."""
        parts = []
        for cell in self.outputs:
            for out in cell:
                parts.append(out.get("text") or (out.get("data") or {}).get("text/plain") or
                             f"{out.get('ename', '')}: {out.get('evalue', '')}")
        return "\n".join(parts)


def _message(session: str, code: str) -> dict:
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}


async def _execute(url: str, token: str, sources: list[str], timeout: float) -> tuple[list[list[dict]], list[str]]:
    connection = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    session, outputs, errors = uuid.uuid4().hex, [], []
    try:
        for source in sources:
            request = _message(session, source)
            await connection.write_message(json.dumps(request))
            mine, idle = [], False
            deadline = time.monotonic() + timeout
            while not idle:
                raw = await asyncio.wait_for(connection.read_message(), max(1.0, deadline - time.monotonic()))
                if raw is None:
                    raise ConnectionError("the kernel's websocket closed")
                if isinstance(raw, bytes):
                    continue
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                    continue
                kind, content = reply["msg_type"], reply["content"]
                if kind in ("stream", "execute_result", "display_data", "error"):
                    mine.append({"output_type": kind, **content})
                if kind == "error":
                    errors.append(f"{content['ename']}: {content['evalue']}")
                idle = kind == "status" and content.get("execution_state") == "idle"
            outputs.append(mine)
            if errors:
                break  # "Run All" stops at the first error too
    finally:
        connection.close()
    return outputs, errors


def run_notebook(base: str, token: str, path: str, timeout: float = 300) -> Ran:
    """Open ``path`` (relative to the server's root) in a new kernel session on the server at ``base`` (its URL
    with its base URL, ending in ``/``), run every code cell in order, then end the session."""
    headers = {"Authorization": f"token {token}"}  # JupyterHub's servers take no token in the URL
    started = time.monotonic()
    reply = requests.get(f"{base}api/contents/{path}", headers=headers, timeout=30)
    reply.raise_for_status()
    cells = reply.json()["content"]["cells"]
    reply = requests.post(f"{base}api/sessions", headers=headers, timeout=60, json={
        "path": path, "type": "notebook", "name": path.rsplit("/", 1)[-1], "kernel": {"name": "python3"}})
    reply.raise_for_status()
    session = reply.json()
    url = f"{base.replace('http', 'ws', 1)}api/kernels/{session['kernel']['id']}/channels"
    try:
        sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                   for c in cells if c["cell_type"] == "code"]
        outputs, errors = asyncio.run(_execute(url, token, sources, timeout))
    finally:
        requests.delete(f"{base}api/sessions/{session['id']}", headers=headers, timeout=30)
    return Ran(path, time.monotonic() - started, outputs, errors)
