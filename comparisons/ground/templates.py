"""Visitors' text in the app's templates and pages.

Prompt templates are templates, not code: a template names only the placeholders it documents (`{text}`,
`{label}`, `{labels}`), plainly, with no format spec, conversion, index or attribute, and has a length cap.
`{{` and `}}` write a literal brace. Checked once when a config is built (the app, the API, the CLI alike), and
rendered here, so that no visitor's string ever reaches `str.format` with its mini-language."""

from __future__ import annotations

import string

from comparisons.ground.errors import UserError

_PARSER = string.Formatter()
_MARKDOWN_SPECIALS = "\\`*_{}[]()<>#+!|~:."  # ':' and '.' too: "https://x.y" and "www.x.y" are not autolinked


def placeholders(template: str, name: str = "template") -> list[str]:
    """The placeholder names of a template, in order; a UserError for anything but a plain `{name}`."""
    try:
        parts = list(_PARSER.parse(template))
    except ValueError as e:  # an unmatched brace
        raise UserError(f"{name}: {e} (write {{{{ and }}}} for a literal brace).") from None
    found = []
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if spec or conversion or not field_name.isidentifier():
            shown = "{" + field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise UserError(f"{name}: {shown} is not allowed; placeholders are plain, like {{text}}, with no format "
                            "spec, index or attribute.")
        found.append(field_name)
    return found


def check_template(template: str, name: str, allowed: tuple[str, ...], required: tuple[str, ...] = (),
                   max_chars: int = 1000) -> None:
    """Raise a UserError naming the setting when the template is too long, uses an undocumented placeholder, or
    lacks a required one."""
    if len(template) > max_chars:
        raise UserError(f"{name} is {len(template):,} characters; the most a template may have is {max_chars:,}.")
    names = placeholders(template, name)
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise UserError(f"{name}: unknown placeholder {{{unknown[0]}}}; it may use only "
                        f"{', '.join('{' + a + '}' for a in allowed)}.")
    missing = [r for r in required if r not in names]
    if missing:
        raise UserError(f"{name} must contain {{{missing[0]}}}.")


def render(template: str, **values: str) -> str:
    """The template with each placeholder replaced by its value (a checked template: plain names only)."""
    out = []
    for literal, field_name, _, _ in _PARSER.parse(template):
        out.append(literal)
        if field_name is not None:
            out.append(str(values[field_name]))
    return "".join(out)


def prefix_before(template: str, name: str) -> str:
    """The part of a checked template before its first `{name}` placeholder, as a template."""
    out = []
    for literal, field_name, _, _ in _PARSER.parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field_name == name:
            break
        if field_name is not None:
            out.append("{" + field_name + "}")
    return "".join(out)


def plain(text: str | None, limit: int = 80, specials: str = _MARKDOWN_SPECIALS) -> str:
    """A visitor's text (a board's title) as plain text inside Markdown: one line, control characters dropped,
    every Markdown and HTML marker escaped, so that it shows as typed and never as a link, an image or markup."""
    line = " ".join("".join(ch for ch in (text or "") if ch.isprintable()).split())[:limit]
    entities = {"<": "&lt;", ">": "&gt;"}  # no tag can open, escaped or not
    return "".join(entities.get(ch) or ("\\" + ch if ch in specials else ch) for ch in line)
