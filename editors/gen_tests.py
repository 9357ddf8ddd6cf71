#!/usr/bin/env python3
"""Writes the TextMate and Vim syntax test files from one table, so the two editors are
tested on the same lines and columns are computed, not counted by hand.

Each case: a source line and (token, occurrence, textmate scope, vim group) tuples.
Run: python3 editors/gen_tests.py  (the outputs are committed)."""
import json, os

CASES = [
    ("/// A doc comment.", [("///", 0, "comment.line.documentation.amm", "ammDocComment")]),
    ("// A line comment.", [("//", 0, "comment.line.double-slash.amm", "ammComment")]),
    ("use std.heads.{classifier}", [("use", 0, "keyword.control.import.amm", "ammImport")]),
    ("param lr: float = 1e-3", [
        ("param", 0, "storage.type.amm", "ammDecl"),
        ("lr", 0, "entity.name.type.amm", "ammDeclName"),
        ("float", 0, "support.type.amm", "ammType"),
        ("=", 0, "keyword.operator.assignment.amm", "ammOperator"),
        ("1e-3", 0, "constant.numeric.float.amm", "ammFloat")]),
    ("param width: int = 16", [("int", 0, "support.type.amm", "ammType"), ("16", 0, "constant.numeric.integer.amm", "ammNumber")]),
    ("param steps: int = 10_000", [("10_000", 0, "constant.numeric.integer.amm", "ammNumber")]),
    ("param scale = 2.5E+4", [("2.5E+4", 0, "constant.numeric.float.amm", "ammFloat")]),
    ("param ratio = 0.5", [("0.5", 0, "constant.numeric.float.amm", "ammFloat")]),
    ("param flag: bool = true", [("bool", 0, "support.type.amm", "ammType"), ("true", 0, "constant.language.boolean.amm", "ammBoolean")]),
    ("param off = false", [("false", 0, "constant.language.boolean.amm", "ammBoolean")]),
    ('param name: str = "a \\"quoted\\" name\\n"', [
        ("str", 0, "support.type.amm", "ammType"),
        ('"', 0, "string.quoted.double.amm", "ammString"),
        ('\\"', 0, "constant.character.escape.amm", "ammEscape"),
        ("\\n", 0, "constant.character.escape.amm", "ammEscape"),
        ("name", 1, "string.quoted.double.amm", "ammString")]),
    ("param neg = -width * 2 + 3 / 4 % 5 ^ 2", [
        ("-", 0, "keyword.operator.arithmetic.amm", "ammOperator"),
        ("*", 0, "keyword.operator.arithmetic.amm", "ammOperator"),
        ("+", 0, "keyword.operator.arithmetic.amm", "ammOperator"),
        ("/", 0, "keyword.operator.arithmetic.amm", "ammOperator"),
        ("%", 0, "keyword.operator.arithmetic.amm", "ammOperator"),
        ("^", 0, "keyword.operator.arithmetic.amm", "ammOperator")]),
    ("data digits = builtin.digits(split = [0.8, 0.2], seed = 0)", [
        ("data", 0, "storage.type.amm", "ammDecl"),
        ("digits", 0, "entity.name.type.amm", "ammDeclName"),
        ("builtin", 0, "support.module.amm", "ammBuiltin"),
        ("digits", 1, "support.function.builtin.amm", "ammBuiltin"),
        ("split", 0, "variable.parameter.amm", "ammField"),
        ("[", 0, "punctuation.section.brackets.amm", None),
        (",", 0, "punctuation.separator.comma.amm", None)]),
    ("backbone features(hidden: int = 8) {", [
        ("backbone", 0, "storage.type.amm", "ammDecl"),
        ("features", 0, "entity.name.type.amm", "ammDeclName")]),
    ("    conv(8, kernel = 3, pad = 1) relu", [
        ("conv", 0, "support.function.builtin.amm", "ammBuiltin"),
        ("kernel", 0, "variable.parameter.amm", "ammField"),
        ("relu", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("    residual { dense(hidden) relu }", [
        ("residual", 0, "keyword.control.amm", "ammKeyword"),
        ("dense", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("    repeat(2) { dropout(0.1) }", [("repeat", 0, "keyword.control.amm", "ammKeyword")]),
    ("    my_block(4)", [("my_block", 0, "entity.name.function.call.amm", "ammCall")]),
    ("}", []),
    ("head out(classes: int) { dense(classes) }", [
        ("head", 0, "storage.type.amm", "ammDecl"), ("out", 0, "entity.name.type.amm", "ammDeclName")]),
    ("model net = features -> out(classes = 10)", [
        ("model", 0, "storage.type.amm", "ammDecl"), ("net", 0, "entity.name.type.amm", "ammDeclName"),
        ("->", 0, "keyword.operator.arrow.amm", "ammOperator")]),
    ("train fit {", [("train", 0, "storage.type.amm", "ammDecl"), ("fit", 0, "entity.name.type.amm", "ammDeclName")]),
    ("    model = net", [("model", 0, "variable.parameter.amm", "ammField")]),
    ("    data = digits", [("data", 0, "variable.parameter.amm", "ammField")]),
    ("    loss = cross_entropy", [("cross_entropy", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("    optimizer = adam(lr = lr)", [("adam", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("}", []),
    ('env maze = grid(map = """', [
        ("env", 0, "storage.type.amm", "ammDecl"), ("maze", 0, "entity.name.type.amm", "ammDeclName"),
        ('"""', 0, "string.quoted.triple.amm", "ammTripleString")]),
    ("    S . G", [("S . G", 0, "string.quoted.triple.amm", "ammTripleString")]),
    ('""", step_reward = -0.01)', [('"""', 0, "string.quoted.triple.amm", "ammTripleString"),
        ("step_reward", 0, "variable.parameter.amm", "ammField")]),
    ("agent learner = q_learning(env = maze) {", [
        ("agent", 0, "storage.type.amm", "ammDecl"), ("learner", 0, "entity.name.type.amm", "ammDeclName"),
        ("q_learning", 0, "support.function.builtin.amm", "ammBuiltin"), ("env", 0, "variable.parameter.amm", "ammField")]),
    ("    epsilon = linear(from = 1.0, to = 0.05, steps = 1_000)", [("linear", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("}", []),
    ("tune search {", [("tune", 0, "storage.type.amm", "ammDecl"), ("search", 0, "entity.name.type.amm", "ammDeclName")]),
    ("    space {", [("space", 0, "keyword.control.amm", "ammKeyword")]),
    ("        lr ~ log_uniform(1e-4, 1e-1)", [
        ("~", 0, "keyword.operator.distribution.amm", "ammOperator"),
        ("log_uniform", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("    }", []),
    ("    strategy = bayes(trials = 30)", [("bayes", 0, "support.function.builtin.amm", "ammBuiltin")]),
    ("    objective = maximize(val.accuracy) // comment after code", [
        ("maximize", 0, "support.function.builtin.amm", "ammBuiltin"),
        (".", 0, "punctuation.accessor.amm", None),
        ("//", 0, "comment.line.double-slash.amm", "ammComment")]),
    ("}", []),
]

def col(line, tok, occ):
    i = -1
    for _ in range(occ + 1):
        i = line.index(tok, i + 1)
    return i

here = os.path.dirname(os.path.abspath(__file__))
tm = ['// SYNTAX TEST "source.amm" "every keyword, literal kind and comment (generated by editors/gen_tests.py)"']
vim_src, vim_checks = [], []
for line, checks in CASES:
    tm.append(line)
    vim_src.append(line)
    lnum = len(vim_src)
    for tok, occ, scope, group in checks:
        c = col(line, tok, occ)
        if c < 2:
            # The assertion line itself starts with `//`, so use the <- form for column 0/1.
            tm.append("// " + "<" + "-" * len(tok) + " " + scope if c == 0 else None)
        else:
            tm.append("//" + " " * (c - 2) + "^" * len(tok) + " " + scope)
        if group:
            vim_checks.append((lnum, c + 1, group))
tm = [l for l in tm if l is not None]
open(os.path.join(here, "vscode/tests/language.amm"), "w").write("\n".join(tm) + "\n")
open(os.path.join(here, "vim/test/sample.amm"), "w").write("\n".join(vim_src) + "\n")
with open(os.path.join(here, "vim/test/expected.txt"), "w") as f:
    for l, c, g in vim_checks:
        f.write(f"{l} {c} {g}\n")
