"""The one error type users see: a single line saying what, where and how to fix."""


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
