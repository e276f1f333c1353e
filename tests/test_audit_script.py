"""`make lint`'s dependency audit (scripts/audit_dependencies.py) over a stand-in pip-audit: a
vulnerability fails, an unreachable advisory service warns (or fails under AUDIT_REQUIRED=1),
never a silent pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = "Dependency not found on PyPI and could not be audited: aiohttp (3.9.0)"


def _audit(tmp_path: Path, report: Any, **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "pip_audit"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(f"print({json.dumps(json.dumps(report))})\n")
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_dependencies.py")],
        env={**os.environ, "PYTHONPATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_known_vulnerability_fails(tmp_path: Path) -> None:
    vuln = {"id": "GHSA-xxxx", "fix_versions": ["3.13.3"]}
    report = {"dependencies": [{"name": "aiohttp", "version": "3.9.0", "vulns": [vuln]}]}
    result = _audit(tmp_path, report)
    assert result.returncode == 1
    assert "VULNERABLE aiohttp 3.9.0: GHSA-xxxx (fixed in 3.13.3)" in result.stdout


def test_a_clean_audit_passes(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "aiohttp", "version": "3.14.5", "vulns": []}]}
    result = _audit(tmp_path, report)
    assert result.returncode == 0
    assert "1 packages audited, no known vulnerabilities" in result.stdout


@pytest.mark.parametrize("required", [False, True])
def test_an_unreachable_service_is_never_a_silent_pass(tmp_path: Path, required: bool) -> None:
    report = {"dependencies": [{"name": "aiohttp", "skip_reason": SKIPPED}]}
    result = _audit(tmp_path, report, **({"AUDIT_REQUIRED": "1"} if required else {}))
    assert result.returncode == (1 if required else 0)
    assert "dependencies NOT audited" in result.stderr
