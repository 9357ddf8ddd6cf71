#!/usr/bin/env bash
# Runs the Vim syntax check headlessly; non-zero exit on any mismatch.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
vim -Nu NONE -i NONE -es -S "$here/check.vim" </dev/null
echo "vim syntax: $(wc -l < "$here/expected.txt") checks passed"
