"""Workshop boards: a host creates a board with a short code (optionally fixing the data selection, so that
everyone is scored on the same eval split); participants join with the code and a nickname; their finished runs
on the board's split make its leaderboard. The host can remove entries, freeze the board (its leaderboard is
kept as it stood) and export it. Boards live as `<runs>/boards/<CODE>.json`, beside the runs they rank.

A board shows each entry's summary (who, method, settings, accuracy with its interval, time); the runs themselves
stay their owners' (comparisons.ground.runs.RunStore): nobody else can open, delete or download them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from comparisons.ground import registry
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore, write_json_atomic
from comparisons.ground.templates import plain

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: codes are read aloud and typed from a slide
CODE_LENGTH = 6
NICKNAME = re.compile(r"[\w .,'-]{1,40}")
MAX_BOARDS = 1000  # a public Space must not fill its disk with boards: at the bound, new ones are refused
# At the bound, only these boards give way to a new one: frozen a day ago, or untouched (no join, removal or freeze)
# for a week. A live board is never removed to make room.
FROZEN_EXPIRES_SECONDS = 24 * 3600
IDLE_EXPIRES_SECONDS = 7 * 24 * 3600
COLUMNS = ["rank", "name", "method", "settings", "accuracy", "accuracy_low", "accuracy_high", "macro_f1", "n_train",
           "seconds", "run_id"]
# The settings an entry shows come from its method (registry: board_fields).
_LOCK = threading.Lock()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Board:
    code: str
    host: str  # the host's owner id (comparisons.serving.service.Visitor.id)
    title: str = ""
    created_at: str = ""
    fingerprint: str = ""  # the fixed eval split; "" ranks each eval split apart
    selection: dict = field(default_factory=dict)  # the Selection participants get when they join
    selection_text: str = ""  # the fixed selection in words (never a server path)
    members: dict = field(default_factory=dict)  # owner id -> {"nickname", "joined_at"}
    removed: list = field(default_factory=list)  # run ids the host took off the board
    frozen_at: str | None = None
    frozen_rows: list = field(default_factory=list)  # the leaderboard as it stood when frozen

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Board:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def is_host(self, owner: str | None) -> bool:
        """The host, or the machine's owner (the CLI, owner None)."""
        return owner is None or owner == self.host


def normalise_code(code: str | None) -> str:
    code = (code or "").strip().upper().replace("-", "").replace(" ", "")
    if not re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", code):
        raise UserError(f"a board code is {CODE_LENGTH} letters and digits, e.g. K7QX2M; got {code or 'nothing'!r}.")
    return code


def check_nickname(nickname: str | None, fallback: str) -> str:
    name = " ".join((nickname or "").split())
    if not name:
        return fallback
    if not NICKNAME.fullmatch(name):
        raise UserError("a nickname is up to 40 letters, digits, spaces and . , ' - _ ")
    return name


class BoardStore:
    def __init__(self, runs: RunStore):
        self.runs = RunStore(runs.root)  # boards rank everyone's runs; they show summaries, never the runs
        self.root = runs.root / "boards"

    def _path(self, code: str) -> Path:
        return self.root / f"{code}.json"

    def load(self, code: str | None) -> Board:
        code = normalise_code(code)
        path = self._path(code)
        if not path.is_file():
            raise UserError(f"no board '{code}': check the code with your host.")
        return Board.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def save(self, board: Board) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._path(board.code), board.to_dict())

    def create(self, host: str, nickname: str, title: str = "", selection: dict | None = None,
               fingerprint: str = "", selection_text: str = "") -> Board:
        title = " ".join("".join(ch for ch in (title or "") if ch.isprintable()).split())[:80]
        with _LOCK:
            self._bound()
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                if not self._path(code).exists():
                    break
            board = Board(code=code, host=host, title=title or f"Board {code}",
                          created_at=_now(), fingerprint=fingerprint, selection=dict(selection or {}),
                          selection_text=selection_text,
                          members={host: {"nickname": check_nickname(nickname, "host"), "joined_at": _now()}})
            self.save(board)
        return board

    def _bound(self, now: float | None = None) -> None:
        """At MAX_BOARDS, expire boards frozen a day ago or idle for a week; if none may go, refuse the new one."""
        boards = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime) if self.root.is_dir() else []
        if len(boards) < MAX_BOARDS:
            return
        now = time.time() if now is None else now
        for p in boards:
            if len(boards) < MAX_BOARDS:
                break
            try:
                board = Board.from_dict(json.loads(p.read_text(encoding="utf-8")))
                age = now - p.stat().st_mtime
            except (OSError, ValueError, TypeError):
                continue
            if (board.frozen_at and age > FROZEN_EXPIRES_SECONDS) or age > IDLE_EXPIRES_SECONDS:
                p.unlink(missing_ok=True)
                boards.remove(p)
        if len(boards) >= MAX_BOARDS:
            raise UserError(f"this instance holds {MAX_BOARDS:,} live boards, its most: no new board can be created "
                            "now. Join an existing board, or ask the host of this instance.")

    def join(self, code: str, owner: str, nickname: str, fallback_name: str) -> Board:
        with _LOCK:
            board = self.load(code)
            if board.frozen_at:
                raise UserError(f"board {board.code} is frozen: its host closed it to new entries.")
            name = check_nickname(nickname, board.members.get(owner, {}).get("nickname") or fallback_name)
            board.members[owner] = {"nickname": name, "joined_at": board.members.get(owner, {}).get("joined_at")
                                    or _now()}
            self.save(board)
        return board

    def boards_of(self, owner: str) -> list[Board]:
        """The boards a visitor hosts or joined, newest first."""
        out = []
        for p in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            try:
                b = Board.from_dict(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
            if owner in b.members:
                out.append(b)
        return sorted(out, key=lambda b: b.created_at, reverse=True)

    def remove(self, code: str, owner: str | None, run_id: str) -> Board:
        """The host takes an entry off the board (the run itself stays its owner's)."""
        with _LOCK:
            board = self.load(code)
            if not board.is_host(owner):
                raise UserError(f"only the host of board {board.code} can remove its entries.")
            run_id = (run_id or "").strip()
            if run_id not in {r["run_id"] for r in self.rows(board)}:
                raise UserError(f"run '{run_id}' is not on board {board.code}.")
            board.removed.append(run_id)
            board.frozen_rows = [r for r in board.frozen_rows if r["run_id"] != run_id]
            self.save(board)
        return board

    def freeze(self, code: str, owner: str | None) -> Board:
        """Close the board: its leaderboard is kept as it stands now; later runs no longer count."""
        with _LOCK:
            board = self.load(code)
            if not board.is_host(owner):
                raise UserError(f"only the host of board {board.code} can freeze it.")
            if not board.frozen_at:
                board.frozen_rows = self.rows(board)
                board.frozen_at = _now()
                self.save(board)
        return board

    def entries(self, board: Board) -> list[RunRecord]:
        """The members' finished runs on the board's eval split made since they joined it (a host's runs from before
        the workshop are not entries; study cells and removed entries are left out either)."""
        out = []
        for r in self.runs.list():
            member = board.members.get(r.owner)
            if (member is not None and r.status == "completed" and not r.study and _classifier(r.method)
                    and r.created_at >= (member.get("joined_at") or "")
                    and r.run_id not in board.removed and r.metrics.get("accuracy") is not None
                    and (not board.fingerprint or r.data.get("fingerprint") == board.fingerprint)):
                out.append(r)
        return out

    def rows(self, board: Board) -> list[dict]:
        """The leaderboard, best accuracy first (each eval split ranked apart when the board fixes none)."""
        if board.frozen_at:
            return [dict(r) for r in board.frozen_rows]
        from comparisons.ground.stats import accuracy_interval

        rows = []
        for r in self.entries(board):
            ci = accuracy_interval(r) or (None, None)
            rows.append({"name": board.members[r.owner]["nickname"], "method": r.label, "settings": settings_text(r),
                         "accuracy": round(r.metrics["accuracy"], 4),
                         "accuracy_low": None if ci[0] is None else round(ci[0], 4),
                         "accuracy_high": None if ci[1] is None else round(ci[1], 4),
                         "macro_f1": round(r.metrics.get("macro_f1", 0), 4), "n_train": r.data.get("n_train"),
                         "seconds": r.timings.get("total_seconds"), "run_id": r.run_id,
                         "eval_split": r.data.get("fingerprint")})
        rows.sort(key=lambda x: (x["eval_split"] != board.fingerprint, x["eval_split"] or "", -x["accuracy"]))
        rank, split = 0, None
        for row in rows:
            rank = 1 if row["eval_split"] != split else rank + 1
            split, row["rank"] = row["eval_split"], rank
        return rows


def _classifier(method: str) -> bool:
    found = registry.find(method)
    return found is not None and found.classifier


def settings_text(record: RunRecord) -> str:
    """The settings a leaderboard entry shows (its method's board_fields; a method may say what it chose)."""
    method = registry.find(record.method)
    if method is None:
        return ""
    c = method.board_settings(record) if method.board_settings else dict(record.config)
    return ", ".join(f"{k} {c[k]}" for k in method.board_fields if c.get(k) not in (None, ""))
def summary(board: Board, rows: list[dict]) -> str:
    """The board in a few words, for the page."""
    split = f"eval split `{board.fingerprint}` ({plain(board.selection_text, 200)})" if board.fingerprint else \
        "any eval split (each ranked apart; the host fixed none)"
    state = f"**frozen** {board.frozen_at[:16].replace('T', ' ')} UTC" if board.frozen_at else "open"
    return (f"**{plain(board.title)}** · code **{board.code}** · {state} · {len(board.members)} participants · "
            f"{len(rows)} {'entry' if len(rows) == 1 else 'entries'} · {split}")


def to_markdown(board: Board, rows: list[dict]) -> str:
    lines = [f"# {plain(board.title)} ({board.code})", "", summary(board, rows), "",
             "| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("---" for _ in COLUMNS) + " |"]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(c) is None else plain(str(r.get(c)), 200, "|\\<>[]`")
                                    for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*COLUMNS, "eval_split"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def visible_rows(board: Board, rows: list[dict], viewer: str | None) -> list[dict]:
    """The leaderboard as `viewer` may see it: run ids are for the host (who removes entries) and the machine's
    owner (viewer None) alone."""
    if board.is_host(viewer):
        return rows
    return [{k: v for k, v in r.items() if k != "run_id"} for r in rows]


def to_json(board: Board, rows: list[dict], viewer: str | None = None) -> dict:
    """A board as the API and `board --json` give it: no member ids, only nicknames; run ids for its host only."""
    return {"code": board.code, "title": board.title, "frozen_at": board.frozen_at, "fingerprint": board.fingerprint,
            "selection": board.selection_text, "participants": sorted(m["nickname"] for m in board.members.values()),
            "entries": visible_rows(board, rows, viewer)}
