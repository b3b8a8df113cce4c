"""Recording: targets (live or emulator), the recorder, progress, the --check report."""
