"""The import contracts in pyproject.toml (`[tool.importlinter]`): they hold for the code as it is,
and the layers contract fails on a copy of the package with a cycle added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:  # ahead of the installed (editable) axops
        env["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(PYPROJECT)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_cycle_between_core_and_a_domain_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "src" / "axops", tmp_path / "axops", ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / "axops" / "core" / "ids.py").open("a") as f:
        f.write("\nimport axops.serving.service  # a deliberate cycle: core -> serving -> ... -> core\n")

    result = lint_imports(tmp_path, pythonpath=tmp_path)

    assert result.returncode != 0, result.stdout
    assert "the layers: entry points, executors, domains, auth, core, leaf modules BROKEN" in result.stdout
    assert "axops.core is not allowed to import axops.serving" in result.stdout
    assert "axops.core.ids -> axops.serving.service" in result.stdout
