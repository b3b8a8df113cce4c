"""A local emulator of the slice of an Azure AI Foundry project the integration uses.

    from foundry_goldens.emulator import FoundryEmulator, FaultConfig

    with FoundryEmulator(seed="demo", faults=FaultConfig(rate_limit_every=3)) as emulator:
        emulator.endpoint  # http://127.0.0.1:PORT/api/projects/demo
        emulator.stats()   # requests by route, TCP connections accepted, faults injected

or `python -m foundry_goldens.emulator --port 0`. See docs/emulator.md.
"""

from foundry_goldens.emulator.agents import AGENTS
from foundry_goldens.emulator.faults import Fault, FaultConfig
from foundry_goldens.emulator.server import ADMIN_STATS_PATH, FoundryEmulator
from foundry_goldens.emulator.stats import EmulatorStats

__all__ = ["ADMIN_STATS_PATH", "AGENTS", "EmulatorStats", "Fault", "FaultConfig", "FoundryEmulator"]
