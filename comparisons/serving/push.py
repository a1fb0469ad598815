"""Pushing a run's model folder, with its model card, to the Hugging Face Hub: the command line with the machine
owner's HF_TOKEN, the app with the visitor's own login (never the host's token)."""
from __future__ import annotations

import os
from pathlib import Path

from comparisons.ground.errors import UserError


def cli_token() -> str | None:
    """The token the command line pushes with: HF_TOKEN, the machine owner's. The app never uses it: a visitor
    pushes with their own login (comparisons.serving.service.push_model), on a Space and off it."""
    return os.environ.get("HF_TOKEN") or None


def check_push(repo: str, token: str | None) -> str:
    from comparisons.ground.modelcard import REPO_ID

    """Why a push cannot happen, said before any work (a bad repo id, no token, offline); the repo id otherwise.
    The missing token comes first: signing in is what a visitor can do about it."""
    repo = (repo or "").strip()
    if not REPO_ID.fullmatch(repo):
        raise UserError(f"a Hub repo is written 'your-name/model-name', got {repo[:100]!r}.")
    if not token:
        raise UserError("cannot push: no Hugging Face token. In the app, sign in with the 'Sign in with Hugging Face' "
                        "button (a Space with OAuth); from the command line, set HF_TOKEN.")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise UserError("cannot push: this machine is offline (HF_HUB_OFFLINE is set). The model card and files are "
                        "in the model folder; download them and push from a machine that reaches the Hub.")
    return repo


def push(record, repo: str, token: str | None, private: bool = True, endpoint: str | None = None) -> str:
    """Upload a run's model folder (with its card, for that repo) to the Hub; returns the repo's URL."""
    from comparisons.ground.disk import require_saved_model
    from comparisons.ground.hub import offline_reason
    from comparisons.ground.modelcard import NOT_PUSHED, card_for

    repo = check_push(repo, token)
    folder = require_saved_model(record)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        url = api.create_repo(repo, private=private, exist_ok=True)
        card_for(record, repo).save(Path(folder) / "README.md")  # the card's load lines name the real repo
        api.upload_folder(repo_id=repo, folder_path=folder, ignore_patterns=NOT_PUSHED,
                          commit_message=f"Upload {record.label} (Tune · Prompt · Retrieve run {record.run_id})")
    except Exception as e:  # the Hub's answer (no network, a bad token, a repo of someone else) said in words
        reason = offline_reason() if "connect" in str(e).lower() or "resolve" in str(e).lower() else str(e)
        raise UserError(f"could not push to {repo}: {str(reason).splitlines()[0][:300]}") from None
    return str(url)
