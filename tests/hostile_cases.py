"""How many hostile inputs each surface's suite tries (each test module's HOSTILE_CASES):

python -m tests.hostile_cases
"""

from __future__ import annotations

from importlib import import_module

SURFACES = {
    "scoring input and posts files": "tests.test_hostile_collections",
    "predict inputs": "tests.test_hostile_predict",
    "checkpoints": "tests.test_hostile_checkpoints",
    "corrections database and reviews": "tests.test_hostile_database",
    "files shut or read-only": "tests.test_hostile_permissions",
    "--out and the command line": "tests.test_hostile_out",
    "CSV exports (Browse, Analyse, the reviewed set)": "tests.test_hostile_exports",
    "a post's text on pages and in charts": "tests.test_hostile_text",
}


def counts() -> dict[str, int]:
    return {surface: len(import_module(module).HOSTILE_CASES) for surface, module in SURFACES.items()}


if __name__ == "__main__":
    found = counts()
    for surface, count in found.items():
        print(f"{count:5d}  {surface}")
    print(f"{sum(found.values()):5d}  in all")
