"""`python -m mailrep.dns ...` = `mailrep dns ...` without loading the other subsystems."""

from __future__ import annotations

import typer

from mailrep.dns import command

app = typer.Typer(add_completion=False)
command.register(app)

if __name__ == "__main__":
    app()
