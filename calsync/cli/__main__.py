"""``python -m calsync.cli``: the form scheduled jobs written by earlier versions call."""

from calsync.cli.main import main

main(prog_name="calsync")
