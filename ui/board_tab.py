"""Workshop tab: a host creates a board (a short code, optionally the same eval split for everyone); participants
join with the code; their finished runs on the board's split make its leaderboard."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from comparisons.analysis import report
from comparisons.ground.errors import UserError
from comparisons.ground.exports import export_folder
from comparisons.serving import board as boards
from comparisons.serving import service as svc

from .common import LIGHT, PRIVATE, Download, Table, selected_data, split_data, user_errors, visitor


def data_field_values(selection: dict) -> dict:
    """The Data tab's field values of a board's fixed selection (comparisons.running.api.Selection as a dict)."""
    src = selection.get("source")
    source = svc.SOURCE_SAMPLE if src == "sample" else svc.SOURCE_HUB if src in (None, "", "auto") else \
        svc.SOURCE_UPLOAD
    return {"source": source, "upload": src if source == svc.SOURCE_UPLOAD else None,
            "text_column": selection.get("text_column") or "", "label_column": selection.get("label_column") or "",
            "train_size": "" if selection.get("train_size") is None else str(selection["train_size"]),
            "eval_size": "" if selection.get("eval_size") is None else str(selection["eval_size"]),
            "seed": selection.get("seed", 42), "drop_leaked": bool(selection.get("drop_leaked")),
            "drop_rows": svc.drop_text(selection["drop"]) if selection.get("drop") else ""}


def shown_rows(rows: list[dict], host: bool) -> pd.DataFrame:
    """The leaderboard in readable columns (the exports keep the raw ones); run ids for the host, who removes
    entries by them."""
    out = [{"#": r.get("rank"), "Name": r.get("name"), "Method": r.get("method"), "Settings": r.get("settings"),
            "Accuracy (95 % CI)": report.accuracy_text(r.get("accuracy"), r.get("accuracy_low"),
                                                       r.get("accuracy_high")),
            "Macro-F1": "" if r.get("macro_f1") is None else f"{r['macro_f1']:.3f}",
            "Train tweets": r.get("n_train"),
            "Time": report.duration_text(r.get("seconds")),
            **({"Run id": r.get("run_id")} if host else {})} for r in rows]
    columns = ["#", "Name", "Method", "Settings", "Accuracy (95 % CI)", "Macro-F1", "Train tweets", "Time"]
    return pd.DataFrame(out, columns=columns + (["Run id"] if host else []))


def build(data_fields: dict):
    """The tab; returns (its fill-on-load function, its outputs)."""
    with gr.Tab("Workshop", id="workshop"):
        gr.Markdown("Run a workshop on one instance: the **host** creates a board and shows its code; **participants** "
                    "join with it. Every participant's finished runs on the board's eval split appear on its "
                    "leaderboard. Your runs stay yours: others see their summary on the board, never the run or its "
                    "model.")
        nickname = gr.Textbox(label="Your name on boards", placeholder="e.g. Ada (default: your Hugging Face name, "
                              "or a visitor number)", elem_id="board-nickname")
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Host a board**")
                title = gr.Textbox(label="Title", placeholder="Tuesday workshop", elem_id="board-title")
                fix = gr.Checkbox(True, label="Everyone uses my Data tab selection (the same eval split for all)",
                                  elem_id="board-fix")
                create = gr.Button("Create board", variant="primary", elem_id="board-create")
            with gr.Column():
                gr.Markdown("**Join a board**")
                code_in = gr.Textbox(label="Board code", placeholder="K7QX2M", elem_id="board-code")
                join = gr.Button("Join", variant="primary", elem_id="board-join")
        status = gr.Markdown(elem_id="board-status")
        with gr.Row():
            chosen = gr.Dropdown([], label="Your boards", elem_id="board-chosen")
            refresh = gr.Button("Refresh", elem_id="board-refresh")
        summary = gr.Markdown(elem_id="board-summary")
        table = Table(label="Leaderboard", wrap=True, elem_id="board-table",
                      empty="no entries yet: create or join a board, then run a method")
        with gr.Accordion("Host: remove entries, freeze, export", open=False, elem_id="board-host"):
            with gr.Row():
                entry = gr.Dropdown([], label="Entry (run id)", elem_id="board-entry")
                remove = gr.Button("Remove entry", variant="stop", elem_id="board-remove")
                freeze = gr.Button("Freeze board", elem_id="board-freeze")
                export = gr.Button("Export CSV / Markdown", elem_id="board-export")
            files = Download("Board exports", file_count="multiple")

    def shown(code: str | None, request, note: str = "") -> dict:
        who = visitor(request)
        store = svc.board_store()
        mine = store.boards_of(who.id)
        choices = [(f"{b.code} · {b.title}" + (" (host)" if b.host == who.id else ""), b.code) for b in mine]
        out = {chosen: gr.update(choices=choices, value=code), status: note}
        if code:
            b = store.load(code)
            if who.id not in b.members:
                raise UserError(f"join board {b.code} first to see its leaderboard.")
            rows = store.rows(b)
            host = b.is_host(who.id)
            out.update({summary: boards.summary(b, rows), table: shown_rows(boards.visible_rows(b, rows, who.id), host),
                        entry: gr.update(choices=[r["run_id"] for r in rows] if host else [], value=None)})
        return out

    @user_errors
    def do_create(request: gr.Request = None, **values):
        settings, data_values = split_data(values)
        if settings["fix"]:
            selected_data(data_values, request)  # the host's current selection becomes everyone's
        b = svc.create_board(visitor(request), settings["nickname"], settings["title"], bool(settings["fix"]))
        chosen_data = boards.plain(b["selection"], 200)
        return shown(b["code"], request, f"Board **{b['code']}** created. Show this code to the participants"
                                          + (f"; everyone gets your selection: {chosen_data}." if chosen_data else "."))

    @user_errors
    def do_join(code, name, request: gr.Request = None):
        b = svc.join_board(visitor(request), code, name)
        chosen_data = boards.plain(b["selection"], 200)
        out = shown(b["code"], request, f"Joined **{boards.plain(b['title'])}** ({b['code']})."
                                        + (f" Your Data tab now uses the board's selection: {chosen_data}."
                                           if chosen_data else ""))
        selection = svc.board_store().load(b["code"]).selection
        if selection:
            out.update({data_fields[k]: v for k, v in data_field_values(selection).items()})
        return out

    @user_errors
    def do_remove(code, run_id, request: gr.Request = None):
        if not code or not run_id:
            raise UserError("choose a board and an entry first.")
        svc.board_store().remove(code, visitor(request).id, run_id)
        return shown(code, request, f"Removed {run_id} from the board.")

    @user_errors
    def do_freeze(code, request: gr.Request = None):
        if not code:
            raise UserError("choose a board first.")
        svc.board_store().freeze(code, visitor(request).id)
        return shown(code, request, "Frozen: the leaderboard is kept as it stands.")

    @user_errors
    def do_export(code, request: gr.Request = None):
        if not code:
            raise UserError("choose a board first.")
        store = svc.board_store()
        b = store.load(code)
        if not b.is_host(visitor(request).id):
            raise UserError(f"only the host of board {b.code} exports it.")
        rows = store.rows(b)
        folder = export_folder("board")
        (folder / f"board-{b.code}.csv").write_text(boards.to_csv(rows), encoding="utf-8")
        (folder / f"board-{b.code}.md").write_text(boards.to_markdown(b, rows), encoding="utf-8")
        return [str(folder / f"board-{b.code}.csv"), str(folder / f"board-{b.code}.md")]

    @user_errors
    def do_show(code, request: gr.Request = None):
        return shown(code, request)

    def fill(request: gr.Request = None):
        mine = svc.board_store().boards_of(visitor(request).id)
        return shown(mine[0].code if mine else None, request)

    outputs = [chosen, status, summary, table, entry]
    create.click(do_create, inputs_kwargs={"nickname": nickname, "title": title, "fix": fix, **data_fields},
                 outputs=outputs, **LIGHT, **PRIVATE)
    join.click(do_join, [code_in, nickname], [*outputs, *data_fields.values()], **LIGHT, **PRIVATE)
    for trigger in (refresh.click, chosen.input):
        trigger(do_show, chosen, outputs, **LIGHT, **PRIVATE)
    remove.click(do_remove, [chosen, entry], outputs, **LIGHT, **PRIVATE)
    freeze.click(do_freeze, chosen, outputs, **LIGHT, **PRIVATE)
    export.click(do_export, chosen, files, **PRIVATE)
    return fill, outputs
