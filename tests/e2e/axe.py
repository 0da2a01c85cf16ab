"""axe-core in a page under test: the npm package `make test-clients` installs (or a copy
named by ``AXE_CORE_JS``). Missing, a test skips; in CI (``CI=true``) it fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.conftest import skip_or_fail

AXE = Path(
    os.environ.get("AXE_CORE_JS")
    or Path(__file__).resolve().parents[1] / "clients" / "node_modules" / "axe-core" / "axe.min.js"
)


def axe_source() -> str:
    if not AXE.exists():
        skip_or_fail(f"axe-core not found at {AXE}: run `make test-clients`")
    return AXE.read_text("utf-8")


async def violations(page: Any) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now: rule id, help and up to 5 targets.

    Injected as a script tag: the test's browser context must bypass the page's CSP."""
    await page.add_script_tag(content=axe_source())
    result = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))"
    )
    return list(result)
