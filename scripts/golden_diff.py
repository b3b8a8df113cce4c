"""`foundry-goldens diff`, for callers of the old path (the workflows)."""

import sys

from foundry_goldens.cli.diff import main

if __name__ == "__main__":
    sys.exit(main())
