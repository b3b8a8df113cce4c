"""The `foundry-goldens` command line: record, diff, emulator, init, config (see main.py)."""
