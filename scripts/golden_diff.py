"""`foundry-goldens diff`, for callers that run it by its path (the workflows). It is that
command, so its messages say `foundry-goldens diff:` too, never a name of its own."""

import sys

from foundry_goldens.cli.diff import main

if __name__ == "__main__":
    sys.exit(main())
