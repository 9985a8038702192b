"""``python -m bakery``."""

import sys

try:
    from bakery.cli.main import main
except KeyboardInterrupt:  # interrupted while starting: nothing began, nothing to undo
    sys.exit(130)

main()
