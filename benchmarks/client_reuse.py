"""Per-call overhead of the tutorial's rebuild-every-call clients against the reused ones.

Real HTTP on loopback: one emulator, one conversation, N calls of run_inference each way,
side by side in one run. The reused variant is the snippet as shipped; the rebuilt variant
drops the snippet's client cache before every call, which is what the tutorial's query_model
does (new credential, project client and OpenAI client, so a new TLS context and connection).

    python benchmarks/client_reuse.py [--calls 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.loader import load_integration


def run_calls(calls: int, before_each: Callable[[], None] | None) -> dict[str, Any]:
    module = load_integration()
    module.reset_client_cache()
    with FoundryEmulator(seed="bench") as emulator:
        environment = {
            "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
            "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        }
        first = json.loads(
            module.run_inference(
                json.dumps({"messages": [{"role": "user", "content": "Hi"}]}), environment
            )
        )
        conversation_id = first["items"][-1]["conversation_id"]
        body = json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello", "conversation_id": conversation_id},
                    {"role": "user", "content": "Hello again"},
                ]
            }
        )
        connections_before = emulator.stats()["connections"]
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            if before_each is not None:
                before_each()
            module.run_inference(body, environment)
            samples.append(time.perf_counter() - started)
        connections = emulator.stats()["connections"] - connections_before
    module.reset_client_cache()
    return {"median_ms": statistics.median(samples) * 1000, "connections": connections}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    module = load_integration()
    reused = run_calls(args.calls, None)
    rebuilt = run_calls(args.calls, module.reset_client_cache)
    overhead = rebuilt["median_ms"] - reused["median_ms"]
    print(f"run_inference on the emulator over loopback, {args.calls} calls each, one conversation")
    print(
        f"  reused clients (shipped):        {reused['median_ms']:7.2f} ms/call, {reused['connections']} new TCP connections"
    )
    print(
        f"  rebuilt every call (tutorial):   {rebuilt['median_ms']:7.2f} ms/call, {rebuilt['connections']} new TCP connections"
    )
    print(
        f"  overhead of rebuilding: {overhead:.2f} ms per call ({rebuilt['median_ms'] / reused['median_ms']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
