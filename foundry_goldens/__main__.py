"""`python -m foundry_goldens` is `foundry-goldens`."""

import sys

from foundry_goldens.cli.main import main

sys.exit(main())
