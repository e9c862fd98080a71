"""The one error type users see: a single line saying what, where and how to fix."""

from typing import List, Sequence


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Problems(UserError):
    """Several problems found together (e.g. every bad field of one file), reported at
    once: `problems` lists them, one line each (`file:line: what; what to do`); the
    command line prints one `error:` line per problem. str() joins them with '; '."""

    def __init__(self, problems: Sequence[str], exit_code: int = 2) -> None:
        super().__init__("; ".join(problems), exit_code)
        self.problems: List[str] = list(problems)


def problems_of(err: UserError) -> List[str]:
    """The problems an error reports: each of a Problems, else its one message."""
    return list(getattr(err, "problems", None) or [str(err)])
