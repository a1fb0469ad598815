"""The one error type for mistakes a user can make (a file, a column, a label, a setting).

The UI shows its message, the CLI prints it and exits with status 2. Programming errors are
ordinary exceptions and keep their tracebacks.
"""


class UserError(Exception):
    """Something the user can fix; the message says what was wrong and what to do."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)
