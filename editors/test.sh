#!/usr/bin/env bash
# Runs the editor grammar tests: the VS Code TextMate grammar (vscode-tmgrammar-test) and
# the Vim syntax file (headless vim). Exits non-zero on any failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/vscode"
if [ ! -d node_modules/vscode-tmgrammar-test ]; then
  npm install --no-audit --no-fund --silent
fi
npx --no-install vscode-tmgrammar-test -g syntaxes/amm.tmLanguage.json 'tests/**/*.amm'
if command -v vim >/dev/null 2>&1; then
  bash "$here/vim/test/run.sh"
else
  echo "vim not found: skipping the Vim syntax test (apt-get install vim to run it)"
fi
