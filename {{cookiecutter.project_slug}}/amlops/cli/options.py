"""Option helpers shared by the command modules: defaults come from the settings.

Each command module under `amlops.cli` has `register(commands, options)`, which adds
its sub-parsers with their options and `set_defaults(func=handler)`; a handler is
`handler(args, project) -> exit code` and imports what it needs inside, so
`python -m amlops --help` imports no command's code."""

import argparse
from typing import Any, List, Optional

from amlops.project import Project
from amlops.settings import Settings

Commands = Any  # argparse's sub-parsers action (a private class)


class _Unbuilt:
    """Stands in for the sub-parser of a command other than the one asked for: takes
    every call (add_argument, set_defaults, ...) and builds nothing."""

    def __getattr__(self, name: str) -> Any:
        return self._ignore

    def _ignore(self, *args: Any, **kwargs: Any) -> "_Unbuilt":
        return self


class Options:
    """Builds sub-parsers whose defaults are the project's settings (config.env, .env,
    environment); outside a project every default is empty. With `wanted` (a command
    name), only that command's sub-parser is built (`built` says whether it was)."""

    def __init__(self, settings: Optional[Settings], wanted: Optional[str] = None) -> None:
        self.settings = settings
        self.wanted = wanted
        self.built = False

    def setting(self, key: str, default: str = "") -> str:
        return self.settings.get(key, default) if self.settings else default

    def flag(self, key: str) -> bool:
        return self.settings.flag(key) if self.settings else False

    def command(
        self, commands: Commands, name: str, text: str, exp: bool = True
    ) -> argparse.ArgumentParser:
        """A sub-command; with `exp`, its --exp option (EXP)."""
        if self.wanted is not None and name != self.wanted:
            return _Unbuilt()  # type: ignore[return-value]
        self.built = True
        sub = commands.add_parser(name, help=text, description=text)
        if exp:
            sub.add_argument("--exp", default=self.setting("EXP"), help="experiment name (EXP)")
        return sub

    def pipeline_command(self, commands: Commands, name: str, text: str) -> argparse.ArgumentParser:
        """A sub-command with --pipeline (PIPELINE)."""
        sub = self.command(commands, name, text, exp=False)
        sub.add_argument(
            "--pipeline",
            default=self.setting("PIPELINE"),
            help="pipelines/<name>.yaml (PIPELINE; default: the only one)",
        )
        return sub

    def runtime(self, sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--runtime",
            default=self.setting("RUNTIME", "auto"),
            help="auto, docker or venv (RUNTIME)",
        )

    def inputs(self, sub: argparse.ArgumentParser, text: str) -> None:
        """--input NAME=VALUE, repeatable; INPUTS from the settings come first."""
        sub.add_argument("--input", action="append", default=None, metavar="NAME=VALUE", help=text)

    def job(self, sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--job",
            default=self.setting("JOB"),
            help="another job file in src/<exp>/ (JOB=sweep.yaml), or without EXP any job or"
            " command component file (JOB=path relative to the project)",
        )

    def reads(self, sub: argparse.ArgumentParser, **settings: str) -> None:
        """Name in --help the settings a command reads with no option of its own
        (KEY="VALUE: what it does"), as `make help` does: 'settings read too (...):
        KEY=VALUE: what it does; ...'."""
        told = "; ".join(f"{key}={text}" for key, text in settings.items())
        sub.epilog = f"settings read too (config.env, .env, environment): {told}"

    def switch(self, sub: argparse.ArgumentParser, key: str, text: str) -> None:
        """--some-key, on by default when the setting KEY=1."""
        option = "--" + key.lower().replace("_", "-")
        sub.add_argument(
            option, action="store_true", default=self.flag(key), help=f"{text} ({key}=1)"
        )


def given_inputs(args: argparse.Namespace, project: Project) -> List[str]:
    """INPUTS from the settings, then --input flags (later ones win)."""
    from amlops.inputs import split_overrides

    flags = args.input if args.input is not None else []
    return split_overrides(project.settings.get("INPUTS")) + flags
