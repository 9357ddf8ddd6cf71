#!/usr/bin/env bash
# Runs every editor-support test and exits non-zero if any fails:
#   1. VS Code grammar tests: vscode/tests/*.amm through vscode-tmgrammar-test
#      (installed from the npm registry into vscode/node_modules on first use);
#   2. manifest, language-configuration and cross-editor consistency checks (node --test);
#   3. the headless Vim test (vim/test/run.sh), skipped with a message only if there is no vim.
# The last line is "editors: N passed, M failed" (suites).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
failures=()

suite() { # name command...
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "-- $name FAILED"
  fi
}

grammar_tests() {
  cd "$here/vscode" || return 1
  if [ ! -x node_modules/.bin/vscode-tmgrammar-test ] || [ ! -d node_modules/vscode-languageclient ]; then
    npm install --no-audit --no-fund || return 1
  fi
  node_modules/.bin/vscode-tmgrammar-test -g syntaxes/amm.tmLanguage.json 'tests/**/*.amm'
}

node_tests() {
  node --test "$here/vscode/tests/extension.test.js" "$here/tests/consistency.test.js"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are required for the VS Code grammar tests"
  failed=$((failed + 1))
  failures+=("node/npm missing")
else
  suite "VS Code grammar (vscode-tmgrammar-test)" grammar_tests
  suite "extension manifest and consistency (node --test)" node_tests
fi

vim_bin=${VIM_BIN:-vim}
if command -v "$vim_bin" >/dev/null 2>&1; then
  suite "Vim syntax, ftplugin and indent (headless vim)" env VIM_BIN="$vim_bin" bash "$here/vim/test/run.sh"
else
  echo "== Vim tests SKIPPED: '$vim_bin' not found (apt-get install -y vim to run them)"
fi

if [ "$failed" -ne 0 ]; then
  printf 'failed suite: %s\n' "${failures[@]}"
fi
echo "editors: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
