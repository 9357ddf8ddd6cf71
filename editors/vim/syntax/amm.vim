" Vim syntax file for .amm pipeline files (see docs/language.md).
if exists('b:current_syntax') | finish | endif

syn keyword ammImport use
syn keyword ammKeyword residual repeat space
syn keyword ammBoolean true false
syn keyword ammConstant pi

" Declarations: keyword, then the declared name.
syn match ammDecl "\<\(param\|data\|backbone\|head\|model\|train\|tune\|env\|agent\)\>\ze\s\+\h\w*" nextgroup=ammDeclName skipwhite
syn match ammDeclName "\h\w*" contained

" Field names and named arguments: `name =` (not `==`).
syn match ammField "\<\h\w*\>\ze\s*=\([^=]\|$\)"

" Types after a colon.
syn match ammType "\(:\s*\)\@<=\<\(int\|float\|bool\|str\)\>"

syn keyword ammBuiltin conv maxpool avgpool global_avgpool flatten dense dropout batchnorm
syn keyword ammBuiltin relu leaky_relu sigmoid tanh gelu softmax
syn keyword ammBuiltin cross_entropy mse mae sgd adam adamw constant step cosine
syn keyword ammBuiltin builtin digits synthetic csv idx npy
syn keyword ammBuiltin frozen_lake cliff_walking taxi cartpole grid
syn keyword ammBuiltin q_learning sarsa expected_sarsa double_q linear exponential
syn keyword ammBuiltin uniform log_uniform choice random bayes genetic maximize minimize
syn keyword ammBuiltin accuracy median sin cos exp log sqrt abs
syn match ammCall "\<\h\w*\>\ze\s*("

syn match ammNumber "\<\d[0-9_]*\>"
syn match ammFloat "\<\d[0-9_]*\(\.\d[0-9_]*\([eE][+-]\=\d[0-9_]*\)\=\|[eE][+-]\=\d[0-9_]*\)\>"

syn match ammOperator "->\|[-+*/%^~=]"

syn match ammEscape "\\[nt\\\"]" contained
syn region ammTripleString start=+"""+ end=+"""+ keepend
syn region ammString start=+"\(""\)\@!+ skip=+\\\\\|\\"+ end=+"\|$+ contains=ammEscape

syn match ammComment "//.*$" contains=@Spell
syn match ammDocComment "///.*$" contains=@Spell

" Later matches win at the same column: keep keyword-like matches above `ammCall`.
syn keyword ammKeyword residual repeat space
syn match ammBuiltinCall "\<\(conv\|maxpool\|avgpool\|global_avgpool\|flatten\|dense\|dropout\|batchnorm\|leaky_relu\|cross_entropy\|sgd\|adam\|adamw\|constant\|step\|cosine\|digits\|synthetic\|csv\|idx\|npy\|frozen_lake\|cliff_walking\|taxi\|cartpole\|grid\|q_learning\|sarsa\|expected_sarsa\|double_q\|linear\|exponential\|uniform\|log_uniform\|int\|choice\|random\|bayes\|genetic\|maximize\|minimize\|median\|sin\|cos\|exp\|log\|sqrt\|abs\)\>\ze\s*("

hi def link ammImport Include
hi def link ammKeyword Keyword
hi def link ammDecl StorageClass
hi def link ammDeclName Identifier
hi def link ammField Identifier
hi def link ammType Type
hi def link ammBoolean Boolean
hi def link ammConstant Constant
hi def link ammBuiltin Function
hi def link ammBuiltinCall Function
hi def link ammCall Function
hi def link ammFloat Float
hi def link ammNumber Number
hi def link ammOperator Operator
hi def link ammEscape SpecialChar
hi def link ammString String
hi def link ammTripleString String
hi def link ammComment Comment
hi def link ammDocComment SpecialComment

let b:current_syntax = 'amm'
