"""`make lint`'s dependency audit: pip-audit over the installed environment (`.venv`, what
`make install` resolved from pyproject.toml, dev tools included; there is no lock file yet).

pip-audit asks PyPI's JSON API for each installed version's advisories. Where that service
cannot be reached (an offline machine, a mirror without the per-version JSON, a network blip)
pip-audit skips every package and still says "No known vulnerabilities found": that silent pass
is turned into a loud warning here. Exit status: 1 when a known vulnerability is found; when
nothing could be audited, 0 with the warning, or 1 if AUDIT_REQUIRED=1 (for a CI that can reach
the service and must not pass without it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def main() -> int:
    found = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "--skip-editable",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(found.stdout)
    except ValueError:
        tail = " ".join(found.stderr.strip().splitlines()[-3:])
        return _unaudited(f"pip-audit failed (exit {found.returncode}): {tail}")
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    if vulnerable:
        return 1
    if dependencies and not audited:
        return _unaudited(
            f"the advisory service answered for none of the {len(dependencies)} installed "
            "packages (PyPI's JSON API unreachable?)"
        )
    skipped = sorted(d["name"] for d in dependencies if "skip_reason" in d)
    note = f"; not audited: {', '.join(skipped)}" if skipped else ""
    print(f"pip-audit: {len(audited)} packages audited, no known vulnerabilities{note}")
    return 0


def _unaudited(why: str) -> int:
    required = os.environ.get("AUDIT_REQUIRED") == "1"
    level = "ERROR" if required else "WARNING"
    print(
        f"{level}: dependencies NOT audited: {why}. "
        + ("AUDIT_REQUIRED=1: failing." if required else "Set AUDIT_REQUIRED=1 to fail instead."),
        file=sys.stderr,
    )
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main())
