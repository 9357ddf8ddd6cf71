" Vim syntax file for .amm pipeline files (ammc).
" The language reference is docs/language.md in the ammc repository. Where several
" matches start at the same column, the one defined last wins: generic items (calls,
" numbers, operators) come first, specific ones (keywords, fields, types) after them,
" strings and comments last.
if exists('b:current_syntax')
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

syn iskeyword @,48-57,_
syn case match
" Triple-quoted strings span lines; .amm files are small, so parse from the top.
syn sync fromstart

" Any character that is not part of the language (outside strings and comments).
syn match ammError '[^[:space:][:alnum:]_"(){}[\],.:=+*/%^~-]'

" Calls of user networks: `features(weights = …)`, `classifier(classes = 10)`.
syn match ammCall "\<\h\w*\ze\s*("

" Numbers: 10, 10_000; 0.5, 1e-3, 2.5E+4 (a `.` needs digits on both sides).
syn match ammNumber "\<\d[0-9_]*\>"
syn match ammFloat "\<\d[0-9_]*\%(\.\d[0-9_]*\%([eE][+-]\=\d[0-9_]*\)\=\|[eE][+-]\=\d[0-9_]*\)\>"

" Operators: arithmetic (and unary minus), `=`, `->` (compose), `~` (distribution).
syn match ammOperator "[-+*/%^=]"
syn match ammArrow "->"
syn match ammTilde "\~"

" Builtins: layers, losses and metrics, optimizers and schedules, loaders, environments,
" agents and exploration schedules, distributions, strategies, objectives, pruners, math.
" Keep this list equal to the one in editors/vscode/syntaxes/amm.tmLanguage.json
" (editors/vscode/tests/extension.test.js checks it).
let s:builtins = [
      \ 'conv', 'maxpool', 'avgpool', 'global_avgpool', 'flatten', 'dense', 'dropout',
      \ 'batchnorm', 'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'softmax',
      \ 'cross_entropy', 'mse', 'mae', 'accuracy',
      \ 'sgd', 'adam', 'adamw', 'constant', 'step', 'cosine', 'plateau', 'early_stopping',
      \ 'synthetic', 'csv', 'idx', 'npy',
      \ 'frozen_lake', 'cliff_walking', 'taxi', 'cartpole', 'grid',
      \ 'q_learning', 'sarsa', 'expected_sarsa', 'double_q', 'linear', 'exponential',
      \ 'uniform', 'log_uniform', 'int', 'choice',
      \ 'random', 'bayes', 'genetic', 'maximize', 'minimize', 'median',
      \ 'torch', 'kaiming_uniform', 'kaiming_normal', 'xavier_uniform', 'xavier_normal',
      \ 'sin', 'cos', 'exp', 'log', 'sqrt', 'abs',
      \ ]
" Not after a `.`: in `val.accuracy`, `accuracy` is a metric of the split `val`.
execute 'syn match ammBuiltin "\.\@<!\<\%(' . join(s:builtins, '\|') . '\)\>"'
" `builtin.digits(…)`: the loaders shipped with ammc.
syn match ammBuiltinNamespace "\<builtin\ze\s*\.\s*\h"
syn match ammBuiltinLoader "\%(\<builtin\s*\.\s*\)\@<=\h\w*"
" `pi` in objectives (not a field, formal or call named `pi`).
syn match ammConstant "\.\@<!\<pi\>\%(\s*[=(:\~]\)\@!"

" Block keywords that are not declarations. `space = …` would be a field.
syn match ammControl "\<\%(residual\|repeat\|space\)\>\%(\s*=\)\@!"

" Declarations: the keyword, then the name it binds.
syn match ammDeclareParam "\<param\>\%(\s*=\)\@!" nextgroup=ammParamName skipwhite
syn match ammDeclareNet "\<\%(backbone\|head\)\>\%(\s*=\)\@!" nextgroup=ammNetName skipwhite
syn match ammDeclare "\<\%(data\|model\|train\|tune\|env\|agent\)\>\%(\s*=\)\@!" nextgroup=ammDeclName skipwhite
syn match ammParamName "\<\h\w*" contained
syn match ammNetName "\<\h\w*" contained
syn match ammDeclName "\<\h\w*" contained

" Imports: `use std.heads.{classifier, regressor}` (the braces may span lines).
syn match ammUse "\<use\>" nextgroup=ammModulePath skipwhite
syn match ammModulePath "\<\h\w*\%(\s*\.\s*\h\w*\)*" contained nextgroup=ammImportList skipwhite
syn region ammImportList matchgroup=ammImportBrace start="\.\s*{" end="}" contained
      \ contains=ammImportName,ammComment,ammDocComment
syn match ammImportName "\<\h\w*" contained

" Named arguments and block fields (`kernel = 3`, `model = net`: keywords are fine here),
" but not the type in `hidden: int = 128`.
syn match ammField "\%(:\s*\)\@<!\<\h\w*\ze\s*="
" Network parameters: `hidden: int`.
syn match ammFormal "\<\h\w*\ze\s*:"
" The param searched in a `space` entry: `lr ~ log_uniform(1e-4, 1e-1)`.
syn match ammSpaceEntry "\<\h\w*\ze\s*\~"
" Types after `:`.
syn match ammType "\%(:\s*\)\@<=\<\%(int\|float\|bool\|str\)\>"

syn keyword ammBoolean true false

" Strings: one line, escapes \n \t \\ \" (anything else is an error); unterminated ones
" stop at the end of the line. Triple-quoted strings span lines and have no escapes.
syn match ammEscapeError "\\." contained
syn match ammEscape "\\[nt\\\"]" contained
syn region ammString start=+"+ skip=+\\\\\|\\"+ end=+"\|$+ contains=ammEscape,ammEscapeError
syn region ammTripleString start=+"""+ end=+"""+

" Comments: `///` documents the next declaration (`////` is an ordinary comment).
syn keyword ammTodo TODO FIXME XXX NOTE contained
syn match ammComment "//.*$" contains=ammTodo,@Spell
syn match ammDocComment "///\%(/\)\@!.*$" contains=ammTodo,@Spell

hi def link ammError Error
hi def link ammCall Function
hi def link ammNumber Number
hi def link ammFloat Float
hi def link ammOperator Operator
hi def link ammArrow Operator
hi def link ammTilde Operator
hi def link ammBuiltin Function
hi def link ammBuiltinNamespace Special
hi def link ammBuiltinLoader Function
hi def link ammConstant Constant
hi def link ammControl Statement
hi def link ammDeclareParam Keyword
hi def link ammDeclareNet Keyword
hi def link ammDeclare Keyword
hi def link ammParamName Identifier
hi def link ammNetName Function
hi def link ammDeclName Identifier
hi def link ammUse Include
hi def link ammModulePath Include
hi def link ammImportBrace Delimiter
hi def link ammImportName Function
hi def link ammField Identifier
hi def link ammFormal Identifier
hi def link ammSpaceEntry Identifier
hi def link ammType Type
hi def link ammBoolean Boolean
hi def link ammEscapeError Error
hi def link ammEscape SpecialChar
hi def link ammString String
hi def link ammTripleString String
hi def link ammTodo Todo
hi def link ammComment Comment
hi def link ammDocComment SpecialComment

let b:current_syntax = 'amm'
let &cpo = s:cpo_save
unlet s:cpo_save
