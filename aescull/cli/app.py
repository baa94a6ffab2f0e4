"""The ``aescull`` command: the Typer app and its commands, registered from one module per group.

Rows go to stdout (or ``--output``); progress, warnings and the summary go to stderr, so
``aescull score ~/Photos > scores.csv`` keeps a clean file. Exit codes: :class:`aescull.cli.errors.ExitCode`.
Heavy imports (torch, numpy) happen inside the commands, so ``--help`` and ``--version`` are instant.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aescull import __version__
from aescull.cli import act, report, review, score

app = typer.Typer(
    name="aescull",
    help="Score, rank and cull photos by technical quality, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: no type placeholders (<bool> beside every flag), and help texts print as written
    # (rich markup took "[default: 1]" for a tag and printed " .").
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aescull {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Score, rank and cull photos by technical quality, offline."""


app.command()(score.score)
app.command()(score.rank)
app.command()(act.cull)
app.command()(act.tag)
app.command()(act.undo)
app.command()(report.report)
app.command()(review.review)
