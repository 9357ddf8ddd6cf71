'use strict';
// Keeps the VS Code grammar, the Vim syntax file and their tests in step: the same builtin
// names everywhere, and every reserved word of docs/language.md highlighted by both.
// Run with `node --test tests/consistency.test.js` (editors/test.sh does).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const editors = path.join(__dirname, '..');
const read = (file) => fs.readFileSync(path.join(editors, file), 'utf8');
const grammar = JSON.parse(read('vscode/syntaxes/amm.tmLanguage.json'));
const vimSyntax = read('vim/syntax/amm.vim');
const vimCheck = read('vim/test/check.vim');
const docPath = process.env.AMM_LANGUAGE_DOC || path.join(editors, '..', 'docs', 'language.md');

// The names in the `let s:builtins = [ … ]` list of a Vim script.
function vimBuiltins(text, file) {
  const list = /let s:builtins = \[([\s\S]*?)\n\s*\\ \]/.exec(text);
  assert.ok(list, `no s:builtins list in ${file}`);
  return [...list[1].matchAll(/'([a-z_0-9]+)'/g)].map((m) => m[1]).sort();
}

// The alternatives of the grammar's `builtins` rule.
function grammarBuiltins() {
  const m = /^\(\?<!\[\\w\.\]\)\(([a-z_0-9|]+)\)\\b$/.exec(grammar.repository.builtins.match);
  assert.ok(m, `unexpected builtins pattern ${grammar.repository.builtins.match}`);
  return m[1].split('|').sort();
}

// Every lower-case word that appears in a regex of the grammar.
function grammarWords() {
  const words = new Set();
  const visit = (node, key) => {
    if (Array.isArray(node)) node.forEach((n) => visit(n));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) visit(v, k);
    } else if ((key === 'match' || key === 'begin') && typeof node === 'string') {
      for (const w of node.match(/[a-z_]+/g) || []) words.add(w);
    }
  };
  visit(grammar.repository);
  return words;
}

test('builtins are the same in the grammar, the Vim syntax and both test suites', () => {
  const tm = grammarBuiltins();
  assert.ok(tm.length >= 50, `only ${tm.length} builtins`);
  assert.deepEqual(vimBuiltins(vimSyntax, 'vim/syntax/amm.vim'), tm);
  assert.deepEqual(vimBuiltins(vimCheck, 'vim/test/check.vim'), tm);
  const tmTest = read('vscode/tests/builtins.amm');
  for (const name of tm) {
    assert.ok(tmTest.includes(`\nparam x = ${name}(1, key = 2)\n`), `vscode/tests/builtins.amm lacks ${name}`);
  }
});

test('every reserved word of docs/language.md is highlighted by both editors', (t) => {
  if (!fs.existsSync(docPath)) {
    t.skip(`${docPath} not found (set AMM_LANGUAGE_DOC)`);
    return;
  }
  const doc = fs.readFileSync(docPath, 'utf8');
  const m = /reserved and cannot name anything:\s*`([^`]+)`/.exec(doc);
  assert.ok(m, 'reserved word list not found in docs/language.md');
  const reserved = m[1].trim().split(/\s+/);
  assert.ok(reserved.length >= 15, reserved.join(' '));
  const tmWords = grammarWords();
  for (const word of reserved) {
    assert.ok(tmWords.has(word), `grammar lacks reserved word ${word}`);
    assert.match(vimSyntax, new RegExp(`(\\\\<|\\\\\\||\\\\%\\(|keyword [a-zA-Z]+ (\\w+ )*)${word}\\b`),
      `vim syntax lacks reserved word ${word}`);
  }
});
