"""``python -m bakery``."""

from bakery.cli.main import main

main()
