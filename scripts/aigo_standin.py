"""Export the goldens for AI GO! and run the export on a local stand-in for AI GO!'s runner.

    .venv/bin/python scripts/aigo_standin.py                 # every exportable golden
    .venv/bin/python scripts/aigo_standin.py --only greeting --only order_lookup
    .venv/bin/python scripts/aigo_standin.py --import-demo   # then evidence -> dialogues

`foundry-goldens export aigo` writes the run config into a temporary directory; the stand-in
(foundry_goldens/aigo/standin.py) reads it with latticeflow-go-sdk's loader and plays every
dataset row through the exported python solver and scorer, the model being the exported
snippet on a local Foundry emulator, called as AI GO! calls it (the request rebuilt from the
trace). It prints each sample's scores and broken expectations and each specification's
metrics. `--import-demo` then turns the stand-in's evidence (a TaskResultLog built with
latticeflow-core's types) into dialogues of a fresh `foundry-goldens init` project, one sample
as exported and one as any other AI GO! sample (its trace only), records them on the emulator
and replays them with pytest there.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from foundry_goldens.aigo.export import export_aigo
from foundry_goldens.aigo.standin import SampleResult, StandInRun, run_export
from foundry_goldens.cli.main import main as foundry_goldens
from foundry_goldens.config import activate, load_config
from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.scaffold import init_project
from foundry_goldens.snippet.credentials import StaticTokenCredential

ROOT = Path(__file__).resolve().parent.parent
DEMO_EXPORTED, DEMO_FOREIGN = "order_lookup_system", "failing_tool"


def _print_sample(result: SampleResult) -> None:
    if result.error:
        print(f"  {result.sample_id:<30} ERROR {result.error}")
        return
    scores = "  ".join(f"{k}={v:.2f}" for k, v in result.scores.items())
    print(f"  {result.sample_id:<30} {scores}  ({len(result.bodies)} turns)")
    for broken in result.broken:
        print(f"      broken: {broken}")


def _import_demo(run: StandInRun, directory: Path) -> int:
    specification = next(spec for spec in run.metrics if spec.endswith("retail-support"))
    log = run.task_result_log(specification).model_dump(mode="json")
    # One sample stays as exported; another looks like any AI GO! sample: its row replaced.
    by_id = {sample["sample_id"]: sample for sample in log["evidence"]["samples"]}
    kept, other = by_id.get(DEMO_EXPORTED), by_id.get(DEMO_FOREIGN)
    if kept is None or other is None:
        print(f"import demo: needs {DEMO_EXPORTED} and {DEMO_FOREIGN} in the run")
        return 2
    other = copy.deepcopy(other)
    trial = other["trials"][0]
    other["sample_id"] = trial["sample_id"] = f"AI GO! sample {trial['sample_id']}"
    trial["sample"]["data"] = {"question_id": other["sample_id"]}
    foreign = {**log, "evidence": {**log["evidence"], "samples": [kept, other]}}
    evidence = directory / "task_result_log.json"
    evidence.write_text(json.dumps(foreign), encoding="utf-8")
    project = directory / "team-project"
    init_project(project)
    print(
        f"\nimport demo: {evidence.name}, a TaskResultLog: sample {DEMO_EXPORTED!r} as exported, "
        f"{other['sample_id']!r} with its trace only"
    )
    print(f"  foundry-goldens import aigo {evidence.name}   (in a fresh `init` project)")
    code = foundry_goldens(["import", "aigo", str(evidence), "--root", str(project)])
    if code:
        return code
    for name in sorted((project / "goldens" / "dialogues").glob("*.yaml")):
        if name.name == "greeting.yaml":  # init's own
            continue
        print(f"--- goldens/dialogues/{name.name}")
        print(name.read_text("utf-8"), end="")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    for command in (
        ["-m", "foundry_goldens", "record", "--emulator"],
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    ):
        shown = (
            "foundry-goldens " + " ".join(command[2:]) if "foundry_goldens" in command else "pytest"
        )
        done = subprocess.run(
            [sys.executable, *command],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"$ {shown}  -> exit {done.returncode}")
        tail = (done.stdout + done.stderr).strip().splitlines()[-4:]
        print("\n".join(f"  {line}" for line in tail))
        if done.returncode:
            return done.returncode
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--import-demo", action="store_true")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # the SDK warns of every unset $VARIABLE
    config = activate(load_config(root=ROOT))
    with tempfile.TemporaryDirectory(prefix="aigo-standin-") as temporary:
        directory = Path(temporary)
        export = export_aigo(config, directory / "export", only=args.only)
        print(f"foundry-goldens export aigo {directory / 'export'}")
        for relative in export.files:
            print(f"  {relative}")
        for agent, names in export.agents.items():
            print(f"  agent {agent}: {', '.join(names)}")
        for left in export.left_out:
            print(f"  left out {left.name}: {left.reason}")
        started = time.monotonic()
        with FoundryEmulator(seed="aigo-standin") as emulator:
            local = {
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
            }
            print("\nstand-in run (exported solver and scorer, snippet on the emulator):")
            current: list[str] = []

            def on_sample(result: SampleResult) -> None:
                if current[-1:] != [result.specification]:
                    current.append(result.specification)
                    print(f"specification {result.specification}")
                _print_sample(result)

            run = run_export(directory / "export" / "run.yaml", local, on_sample=on_sample)
        print(f"\nmetrics ({time.monotonic() - started:.1f} s):")
        for specification, metrics in run.metrics.items():
            shown = ", ".join(f"{name} {value:.2f}" for name, value in metrics.items())
            print(f"  {specification}: {shown}")
        failed = [r for r in run.samples if r.error or r.scores.get("dialogue_passed") != 1.0]
        print(f"{len(run.samples) - len(failed)}/{len(run.samples)} dialogues passed")
        if args.import_demo:
            code = _import_demo(run, directory)
            if code:
                return code
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
