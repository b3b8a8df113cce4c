"""A local emulator of the slice of an Azure AI Foundry project the integration uses.

    from harness.emulator import FoundryEmulator, FaultConfig

    with FoundryEmulator(seed="demo", faults=FaultConfig(rate_limit_every=3)) as emulator:
        emulator.endpoint  # http://127.0.0.1:PORT/api/projects/demo
        emulator.stats()   # requests by route, TCP connections accepted, faults injected

or `python -m harness.emulator --port 0`. See docs/emulator.md.
"""

from harness.emulator.agents import AGENTS
from harness.emulator.faults import Fault, FaultConfig
from harness.emulator.server import ADMIN_STATS_PATH, FoundryEmulator
from harness.emulator.stats import EmulatorStats

__all__ = ["ADMIN_STATS_PATH", "AGENTS", "EmulatorStats", "Fault", "FaultConfig", "FoundryEmulator"]
