"""``python -m calsync``."""

from calsync.cli.main import main

main(prog_name="calsync")
