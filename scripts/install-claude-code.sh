#!/usr/bin/env bash
# Install the pinned Claude Code CLI into $REPO/.cache/claude-code for the end-to-end tests.
#
# Idempotent: when the pinned version is already installed it only prints the path.
# Everything comes from the npm registry: the wrapper package @anthropic-ai/claude-code and its
# native binary, shipped as the optional dependency @anthropic-ai/claude-code-<platform>.
# The wrapper's postinstall (install.cjs) hard-links that binary over the bin/claude.exe stub;
# when npm ran with scripts disabled (or the postinstall failed) we run install.cjs ourselves.
#
# Prints the absolute path of the working `claude` executable on its last line of stdout.
set -euo pipefail

VERSION="${SWITCHYARD_CLAUDE_CODE_VERSION:-2.1.330}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$REPO/.cache/claude-code"
PKG_DIR="$PREFIX/node_modules/@anthropic-ai/claude-code"
BIN="$PKG_DIR/bin/claude.exe"

log() { echo "install-claude-code: $*" >&2; }

# The stub bin/claude.exe is a tiny shell script that exits 1, so "--version prints the pinned
# version" is the test that the native binary is in place.
installed_ok() {
  [[ -x "$BIN" ]] || return 1
  local out
  # DISABLE_AUTOUPDATER: --version must never try the network.
  out="$(DISABLE_AUTOUPDATER=1 "$BIN" --version 2>/dev/null)" || return 1
  [[ "$out" == "$VERSION"* ]]
}

if installed_ok; then
  echo "$BIN"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  log "npm and node are required to install @anthropic-ai/claude-code@$VERSION (not found on PATH)."
  log "Install Node.js (e.g. 'apt-get install nodejs npm') and re-run; the e2e tests skip without it."
  exit 1
fi

mkdir -p "$PREFIX"
# A private package.json so npm treats $PREFIX as its own project and never walks up into the repo.
if [[ ! -f "$PREFIX/package.json" ]]; then
  echo '{"name": "switchyard-claude-code", "private": true}' >"$PREFIX/package.json"
fi

log "installing @anthropic-ai/claude-code@$VERSION into $PREFIX"
# --include=optional: the native binary is an optional dependency; a user/CI npmrc with
# omit=optional would otherwise leave only the stub. The package declares engines node>=22 but the
# native binary does not run on node at all, so the engine warning is harmless.
npm install \
  --prefix "$PREFIX" \
  --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
  --include=optional \
  "@anthropic-ai/claude-code@$VERSION" >&2 || log "npm install reported an error; checking the result"

if ! installed_ok; then
  if [[ ! -f "$PKG_DIR/install.cjs" ]]; then
    log "npm did not install $PKG_DIR"
    exit 1
  fi
  # Scripts were disabled (ignore-scripts=true in an npmrc) or the postinstall failed: run it by hand.
  # It only copies/links the already-installed platform package's binary; it downloads nothing.
  log "running install.cjs by hand"
  (cd "$PKG_DIR" && node install.cjs) >&2 || true
fi

if ! installed_ok; then
  log "the claude binary at $BIN does not report version $VERSION."
  log "Is the platform package @anthropic-ai/claude-code-$(uname -s | tr 'A-Z' 'a-z')-<arch> installed under $PREFIX/node_modules?"
  exit 1
fi

log "$(DISABLE_AUTOUPDATER=1 "$BIN" --version)"
echo "$BIN"
