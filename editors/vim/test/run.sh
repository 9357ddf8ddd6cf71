#!/usr/bin/env bash
# Runs the headless Vim test of editors/vim (ftdetect, ftplugin, syntax groups, indent).
# Prints each failure and "vim: N passed, M failed"; exits non-zero on any failure,
# including a Vim error while loading the runtime files.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vim=${VIM_BIN:-vim}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# -N nocompatible, -u NONE no user vimrc or plugins, -i NONE no viminfo, -es silent batch.
AMM_VIM_TEST_LOG="$log" "$vim" -Nu NONE -i NONE -es -S "$here/check.vim" </dev/null
status=$?
cat "$log"
if [ "$status" -ne 0 ]; then
  grep -q '^vim: ' "$log" || echo "vim: the check script stopped early (exit $status): a Vim error in check.vim or editors/vim"
  exit 1
fi
