"""Calling a live app as a hostile visitor would: the public API through gradio_client, and the page's own (private)
events straight through Gradio's queue over HTTP, as a browser's script does."""
from __future__ import annotations

import json
import secrets

import httpx


def ui_event(url: str, button: str, values: dict | None = None, session_hash: str | None = None,
             cookies: dict | None = None, timeout: float = 60) -> dict:
    """Fire the click event of the page's button labelled `button`, its inputs set by label (others keep their
    defaults): {"success": bool, "data": [...]} or {"success": False, "error": message}."""
    values = values or {}
    config = httpx.get(url + "config", cookies=cookies, timeout=timeout).json()
    components = {c["id"]: c for c in config["components"]}
    target = next(c["id"] for c in config["components"] if c.get("type") == "button"
                  and c["props"].get("value") == button)
    dep = next(d for d in config["dependencies"] if [target, "click"] in d["targets"])
    data = [values.get(components[i]["props"].get("label"), components[i]["props"].get("value")) for i in dep["inputs"]]
    session_hash = session_hash or secrets.token_hex(8)
    joined = httpx.post(url + "gradio_api/queue/join", cookies=cookies, timeout=timeout,
                        json={"data": data, "fn_index": dep["id"], "session_hash": session_hash, "event_data": None,
                              "trigger_id": target})
    if joined.status_code != 200:
        return {"success": False, "error": joined.text, "status": joined.status_code}
    with httpx.stream("GET", url + f"gradio_api/queue/data?session_hash={session_hash}", cookies=cookies,
                      timeout=timeout) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                output = message.get("output") or {}
                if message.get("success"):
                    return {"success": True, "data": output.get("data")}
                return {"success": False, "error": output.get("error") or json.dumps(output)}
    return {"success": False, "error": "the stream ended without a result"}


def crashes(log: str) -> list[str]:
    """The tracebacks in an app's log that are not a user error (Gradio logs each gr.Error with its traceback)."""
    blocks, current = [], None
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            current = [line]
            blocks.append(current)
        elif current is not None:
            current.append(line)
            if line and not line.startswith((" ", "\t")) and not line.startswith("Traceback"):
                current = None  # the exception line ends the block
    return ["\n".join(b) for b in blocks if not b[-1].startswith("gradio.exceptions.Error:")]
