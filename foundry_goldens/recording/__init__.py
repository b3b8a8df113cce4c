"""Recording: targets (live or emulator), the recorder, publishing, progress, the watchdog."""
