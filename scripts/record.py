"""`foundry-goldens record`, for callers that run it by its path (the workflows, the tests)."""

import sys

from foundry_goldens.cli.record import main

if __name__ == "__main__":
    sys.exit(main())
