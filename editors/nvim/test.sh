#!/usr/bin/env bash
# Headless Neovim's built-in LSP client against `ammc lsp` on examples/cnn.amm.
# Usage: editors/nvim/test.sh PATH/TO/ammc   (needs nvim >= 0.7)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ammc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/examples/cnn.amm" "$work/cnn.amm"
AMMC_BIN="$ammc" AMM_FILE="$work/cnn.amm" XDG_CACHE_HOME="$work/cache" \
  timeout 60 nvim --headless -u NONE -i NONE -n -c "luafile $here/lsp_test.lua"
