"""Claude Code's checksum of a managed settings document, computed by Claude Code's own code (for tests)."""

from __future__ import annotations

import json

# Claude Code's own checksum function, as its bundle has it (read from the CLI: a recursive key sort,
# then JSON.stringify, then SHA-256), run by a real JavaScript engine.
_CLAUDE_CODE_CHECKSUM = """
const {createHash} = require("crypto");
function rF(e){if(Array.isArray(e))return e.map(rF);if(e!==null&&typeof e==="object"){let o={};
for(let r of Object.keys(e).sort())o[r]=rF(e[r]);return o}return e}
let d=""; process.stdin.on("data", c => d += c).on("end", () =>
  process.stdout.write("sha256:" + createHash("sha256").update(JSON.stringify(rF(JSON.parse(d)))).digest("hex")));
"""


def node_checksum(settings: object) -> str:
    """The checksum Claude Code computes of ``settings`` (skips the test when there is no node)."""
    import shutil
    import subprocess

    import pytest

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    return subprocess.run([node, "-e", _CLAUDE_CODE_CHECKSUM], input=json.dumps(settings), capture_output=True,
                          text=True, check=True, timeout=30).stdout
