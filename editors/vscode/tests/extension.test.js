'use strict';
// Checks of the extension manifest, the language configuration and the grammar's structure:
// what the grammar tests (tests/*.amm, run by vscode-tmgrammar-test) cannot see.
// Run with `node --test tests/extension.test.js` (editors/test.sh does).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));
const pkg = readJson('package.json');
const config = readJson('language-configuration.json');
const grammar = readJson('syntaxes/amm.tmLanguage.json');

test('package.json contributes the amm language and its grammar', () => {
  const lang = pkg.contributes.languages.find((l) => l.id === 'amm');
  assert.ok(lang, 'language id amm');
  assert.deepEqual(lang.extensions, ['.amm']);
  assert.ok(fs.existsSync(path.join(root, lang.configuration)), lang.configuration);
  const contributed = pkg.contributes.grammars.find((g) => g.language === 'amm');
  assert.ok(contributed, 'grammar for amm');
  assert.equal(contributed.scopeName, 'source.amm');
  assert.equal(grammar.scopeName, 'source.amm');
  assert.ok(fs.existsSync(path.join(root, contributed.path)), contributed.path);
  assert.ok(pkg.engines && pkg.engines.vscode, 'engines.vscode is required by VS Code');
  assert.equal(pkg.devDependencies['vscode-tmgrammar-test'], '0.1.3');
  assert.match(pkg.scripts.test, /vscode-tmgrammar-test -g syntaxes\/amm\.tmLanguage\.json/);
});

test('comments, brackets, auto-closing and surrounding pairs', () => {
  assert.equal(config.comments.lineComment, '//');
  assert.deepEqual(config.brackets, [['{', '}'], ['[', ']'], ['(', ')']]);
  const pairs = config.autoClosingPairs.map((p) => `${p.open}${p.close}`);
  for (const p of ['{}', '[]', '()', '""', '""""""']) assert.ok(pairs.includes(p), p);
  const quote = config.autoClosingPairs.find((p) => p.open === '"');
  assert.deepEqual(quote.notIn, ['string', 'comment']);
  const surrounding = config.surroundingPairs.map((p) => p.join(''));
  for (const p of ['{}', '[]', '()', '""']) assert.ok(surrounding.includes(p), p);
});

test('indentation rules follow braces, brackets and parentheses', () => {
  const increase = new RegExp(config.indentationRules.increaseIndentPattern);
  const decrease = new RegExp(config.indentationRules.decreaseIndentPattern);
  for (const line of ['backbone features {', 'train fit {   // fields', 'data d = builtin.digits(',
    '    metrics = [', '    space {', 'agent a = q_learning(env = lake) {']) {
    assert.ok(increase.test(line), `should indent after: ${line}`);
  }
  for (const line of ['backbone f { dense(4) }', '// comment {', 'model net = a -> b', '    relu',
    'x = f(a) // (']) {
    assert.ok(!increase.test(line), `should not indent after: ${line}`);
  }
  for (const line of ['}', '    }', ')', '  ]', '} // end']) {
    assert.ok(decrease.test(line), `should dedent: ${line}`);
  }
  for (const line of ['    dense(4)', 'x = [1]', '// }']) {
    assert.ok(!decrease.test(line), `should not dedent: ${line}`);
  }
});

test('folding markers pair an opening brace line with a closing brace line', () => {
  const start = new RegExp(config.folding.markers.start);
  const end = new RegExp(config.folding.markers.end);
  assert.ok(start.test('backbone features {'));
  assert.ok(start.test('    space {  // searched params'));
  assert.ok(start.test('// region helpers'));
  assert.ok(!start.test('head h(classes: int) { dense(classes) }'));
  assert.ok(!start.test('// not a fold {'));
  assert.ok(end.test('    }'));
  assert.ok(end.test('// endregion'));
  assert.ok(!end.test('    dense(4) }'));
});

test('Enter in a doc comment continues it', () => {
  const rule = config.onEnterRules.find((r) => r.action.appendText === '/// ');
  assert.ok(rule);
  assert.ok(new RegExp(rule.beforeText).test('    /// Documents the next item.'));
  assert.ok(!new RegExp(rule.beforeText).test('// plain comment'));
});

test('a word is a name or a number', () => {
  const word = new RegExp(config.wordPattern, 'g');
  assert.deepEqual('lr ~ log_uniform(1e-4, 10_000) + 2.5E+4'.match(word),
    ['lr', 'log_uniform', '1e-4', '10_000', '2.5E+4']);
});

test('every grammar include resolves and every repository rule is used', () => {
  const includes = new Set();
  const visit = (node) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      if (typeof node.include === 'string') includes.add(node.include);
      Object.values(node).forEach(visit);
    }
  };
  visit(grammar);
  for (const inc of includes) {
    assert.match(inc, /^#/, `only local includes: ${inc}`);
    assert.ok(inc.slice(1) in grammar.repository, `unknown include ${inc}`);
  }
  for (const name of Object.keys(grammar.repository)) {
    assert.ok(includes.has(`#${name}`), `unused repository rule ${name}`);
  }
});

test('every scope name ends in .amm', () => {
  const names = [];
  const visit = (node, key) => {
    if (Array.isArray(node)) node.forEach((n) => visit(n));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) visit(v, k);
    } else if (key === 'name' && typeof node === 'string') names.push(node);
  };
  visit(grammar.repository);
  assert.ok(names.length > 30);
  for (const name of names) {
    for (const scope of name.split(/\s+/)) assert.match(scope, /\.amm$/, scope);
  }
});

test('the extension starts `ammc lsp` with a configurable path', () => {
  assert.equal(pkg.main, './extension.js');
  assert.deepEqual(pkg.activationEvents, ['onLanguage:amm']);
  assert.equal(pkg.dependencies['vscode-languageclient'], '9.0.1');
  const setting = pkg.contributes.configuration.properties['amm.server.path'];
  assert.equal(setting.type, 'string');
  assert.equal(setting.default, 'ammc');
  const source = fs.readFileSync(path.join(root, 'extension.js'), 'utf8');
  assert.match(source, /require\('vscode-languageclient\/node'\)/);
  assert.match(source, /config\.get\('server\.path', 'ammc'\)/);
  assert.match(source, /args: \['lsp'\]/);
  // The client library the extension loads is installed (npm install in editors/test.sh)
  // and exports what extension.js uses.
  const lc = require(path.join(root, 'node_modules', 'vscode-languageclient', 'package.json'));
  assert.equal(lc.version, '9.0.1');
});
