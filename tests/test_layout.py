"""The library stands alone: importing every module of crisis_model loads no dashboard code."""

from __future__ import annotations

import json

DASHBOARD_ONLY = ("streamlit", "plotly", "playwright", "crisis_dashboard")

IMPORT_EVERY_MODULE = """
import json, pkgutil, sys, importlib
import crisis_model
names = [m.name for m in pkgutil.walk_packages(crisis_model.__path__, "crisis_model.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_library_loads_no_streamlit_plotly_or_playwright(python_process) -> None:
    process = python_process("-c", IMPORT_EVERY_MODULE)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert {
        "crisis_model.model.fusion",
        "crisis_model.training.loop",
        "crisis_model.data.posts",
        "crisis_model.inference",
        "crisis_model.score",
        "crisis_model.scoring.collection",
    } <= set(report["modules"])
    loaded = [m for m in report["loaded"] if m.split(".")[0] in DASHBOARD_ONLY]
    assert loaded == []
