"""The one error type for mistakes a user can make (a file, a column, a label, a setting).

The UI shows its message, the CLI prints it and exits with status 2. Programming errors are
ordinary exceptions and keep their tracebacks.
"""


MAX_MESSAGE_CHARS = 1000


class UserError(Exception):
    """Something the user can fix; the message says what was wrong and what to do. Always one line of reasonable
    length: a message that echoes what a visitor typed (a run id, a code) cannot be broken over lines or grown to
    the size of their input."""

    def __init__(self, message: str = ""):
        text = " ".join(str(message).split())
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(text)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)
