" Headless test of editors/vim: filetype detection, ftplugin settings, the syntax groups
" of test/sample.amm, every builtin name, and indentation. Run it with test/run.sh
" (vim -Nu NONE -es -S check.vim). Ends with :cquit (exit 1) on any failure, else :qall!.
let s:here = expand('<sfile>:p:h')
let s:root = fnamemodify(s:here, ':h')
" Results go to the file named by $AMM_VIM_TEST_LOG (run.sh prints it afterwards: a file
" that vim reopens through /dev/stdout could be overwritten by later output of the caller).
let s:log = empty($AMM_VIM_TEST_LOG) ? '/dev/stderr' : $AMM_VIM_TEST_LOG
let s:passed = 0
let s:failed = 0

function! s:Fail(msg) abort
  let s:failed += 1
  call writefile(['FAIL ' . a:msg], s:log, 'a')
endfunction

function! s:Check(ok, msg) abort
  if a:ok
    let s:passed += 1
  else
    call s:Fail(a:msg)
  endif
endfunction

" The syntax group at (lnum, col), 1-based.
function! s:Group(lnum, col) abort
  return synIDattr(synID(a:lnum, a:col, 1), 'name')
endfunction

" Asserts `group` on line `lnum` at column `what` (a number) or over every column of the
" `nth` occurrence (default 1) of the text `what`.
function! s:Expect(lnum, what, group, ...) abort
  let line = getline(a:lnum)
  if type(a:what) == v:t_number
    let [first, last] = [a:what, a:what]
  else
    let start = -1
    for _ in range(a:0 ? a:1 : 1)
      let start = stridx(line, a:what, start + 1)
      if start < 0
        call s:Fail(printf('line %d: text %s (occurrence %d) not found in: %s', a:lnum, string(a:what), a:0 ? a:1 : 1, line))
        return
      endif
    endfor
    let [first, last] = [start + 1, start + strlen(a:what)]
  endif
  for col in range(first, last)
    let got = s:Group(a:lnum, col)
    if got !=# a:group
      call s:Fail(printf('line %d col %d (%s): expected %s, got %s', a:lnum, col, string(a:what), string(a:group), string(got)))
      return
    endif
  endfor
  let s:passed += 1
endfunction

execute 'set runtimepath^=' . fnameescape(s:root)
execute 'set runtimepath+=' . fnameescape(s:root . '/after')
filetype plugin indent on
syntax on
execute 'edit ' . fnameescape(s:here . '/sample.amm')

" --- filetype detection and ftplugin -----------------------------------------------
call s:Check(&filetype ==# 'amm', 'filetype is ' . string(&filetype) . ', expected amm')
call s:Check(get(b:, 'current_syntax', '') ==# 'amm', 'syntax/amm.vim not loaded')
call s:Check(&commentstring ==# '// %s', 'commentstring is ' . string(&commentstring))
call s:Check(&l:comments ==# ':///,://', 'comments is ' . string(&l:comments))
call s:Check(&expandtab && &shiftwidth == 4 && &softtabstop == 4, 'expected expandtab shiftwidth=4 softtabstop=4')
call s:Check(&indentexpr ==# 'GetAmmIndent(v:lnum)', 'indentexpr is ' . string(&indentexpr))

" --- syntax groups in sample.amm ------------------------------------------------------
let s:expect = [
      \ [1, '/// Doc comment (three slashes) attached to the next item.', 'ammDocComment'],
      \ [2, '// Line comment with param 42 "text" ', 'ammComment'],
      \ [2, 'TODO', 'ammTodo'],
      \ [3, '//// Four slashes: an ordinary comment.', 'ammComment'],
      \ [4, 'use', 'ammUse'],
      \ [4, 'std.heads', 'ammModulePath'],
      \ [4, '{', 'ammImportBrace'],
      \ [4, 'classifier', 'ammImportName'],
      \ [4, 'regressor', 'ammImportName'],
      \ [4, '}', 'ammImportBrace'],
      \ [4, '// stdlib import', 'ammComment'],
      \ [5, 'use', 'ammUse'],
      \ [5, 'lib.blocks', 'ammModulePath'],
      \ [6, 'stem', 'ammImportName'],
      \ [6, '// the stem', 'ammComment'],
      \ [7, 'tail', 'ammImportName'],
      \ [8, '}', 'ammImportBrace'],
      \ [10, 'param', 'ammDeclareParam'],
      \ [10, 'lr', 'ammParamName'],
      \ [10, '=', 'ammOperator'],
      \ [10, '1e-3', 'ammFloat'],
      \ [10, '// override with --set lr=0.01', 'ammComment'],
      \ [11, 'width', 'ammParamName'],
      \ [11, 'int', 'ammType'],
      \ [11, '16', 'ammNumber'],
      \ [12, '10_000', 'ammNumber'],
      \ [13, 'float', 'ammType'],
      \ [13, '2.5E+4', 'ammFloat'],
      \ [14, 'bool', 'ammType'],
      \ [14, 'true', 'ammBoolean'],
      \ [15, 'false', 'ammBoolean'],
      \ [16, 'str', 'ammType'],
      \ [16, '"a ', 'ammString'],
      \ [16, '\"', 'ammEscape'],
      \ [16, 'quote', 'ammString'],
      \ [16, '\"', 'ammEscape', 2],
      \ [16, '\\', 'ammEscape'],
      \ [16, '\n', 'ammEscape'],
      \ [16, '\t', 'ammEscape'],
      \ [16, 'next', 'ammString'],
      \ [16, '\q', 'ammEscapeError'],
      \ [16, strlen(getline(16)), 'ammString'],
      \ [17, '"unterminated', 'ammString'],
      \ [18, 'param', 'ammDeclareParam'],
      \ [18, 'x', 'ammParamName'],
      \ [18, '-', 'ammOperator'],
      \ [18, '0.01', 'ammFloat'],
      \ [18, '+', 'ammOperator'],
      \ [18, '-', 'ammOperator', 2],
      \ [18, '*', 'ammOperator'],
      \ [18, '/', 'ammOperator'],
      \ [18, '%', 'ammOperator'],
      \ [18, '^', 'ammOperator'],
      \ [18, '3', 'ammNumber'],
      \ [19, '/', 'ammOperator'],
      \ [19, '// division, then a comment', 'ammComment'],
      \ [21, 'data', 'ammDeclare'],
      \ [21, 'digits', 'ammDeclName'],
      \ [21, 'builtin', 'ammBuiltinNamespace'],
      \ [21, 'digits', 'ammBuiltinLoader', 2],
      \ [21, 'split', 'ammField'],
      \ [21, '0.7', 'ammFloat'],
      \ [21, 'seed', 'ammField'],
      \ [21, '0', 'ammNumber', 4],
      \ [22, 'mnist', 'ammDeclName'],
      \ [22, 'idx', 'ammBuiltin'],
      \ [22, 'images', 'ammField'],
      \ [22, '"train//images.gz"', 'ammString'],
      \ [24, 'backbone', 'ammDeclareNet'],
      \ [24, 'features', 'ammNetName'],
      \ [25, 'conv', 'ammBuiltin'],
      \ [25, '8', 'ammNumber'],
      \ [25, 'kernel', 'ammField'],
      \ [25, 'pad', 'ammField'],
      \ [25, 'relu', 'ammBuiltin'],
      \ [26, 'maxpool', 'ammBuiltin'],
      \ [27, 'residual', 'ammControl'],
      \ [28, 'repeat', 'ammControl'],
      \ [28, 'dense', 'ammBuiltin'],
      \ [28, 'dropout', 'ammBuiltin'],
      \ [28, '0.1', 'ammFloat'],
      \ [29, 'flatten', 'ammBuiltin'],
      \ [31, 'mlp', 'ammNetName'],
      \ [31, 'hidden', 'ammFormal'],
      \ [31, 'int', 'ammType'],
      \ [31, '128', 'ammNumber'],
      \ [31, 'depth', 'ammFormal'],
      \ [31, 'int', 'ammType', 2],
      \ [31, 'repeat', 'ammControl'],
      \ [32, 'head', 'ammDeclareNet'],
      \ [32, 'classifier', 'ammNetName'],
      \ [32, 'classes', 'ammFormal'],
      \ [34, 'model', 'ammDeclare'],
      \ [34, 'net', 'ammDeclName'],
      \ [34, '->', 'ammArrow'],
      \ [34, 'classifier', 'ammCall'],
      \ [34, 'classes', 'ammField'],
      \ [35, 'features', 'ammCall'],
      \ [35, 'weights', 'ammField'],
      \ [35, 'true', 'ammBoolean'],
      \ [37, 'train', 'ammDeclare'],
      \ [37, 'fit', 'ammDeclName'],
      \ [38, 'model', 'ammField'],
      \ [39, 'data', 'ammField'],
      \ [40, 'loss', 'ammField'],
      \ [40, 'cross_entropy', 'ammBuiltin'],
      \ [40, 'label_smoothing', 'ammField'],
      \ [41, 'adam', 'ammBuiltin'],
      \ [41, 'lr', 'ammField'],
      \ [42, 'step', 'ammBuiltin'],
      \ [42, 'every', 'ammField'],
      \ [44, 'accuracy', 'ammBuiltin'],
      \ [47, 'env', 'ammDeclare'],
      \ [47, 'lake', 'ammDeclName'],
      \ [47, 'frozen_lake', 'ammBuiltin'],
      \ [47, '"4x4"', 'ammString'],
      \ [48, 'grid', 'ammBuiltin'],
      \ [48, '"""', 'ammTripleString'],
      \ [49, '    S . . # param 12 "q" \n', 'ammTripleString'],
      \ [50, '    . # . G // not a comment', 'ammTripleString'],
      \ [51, '"""', 'ammTripleString'],
      \ [51, 'step_reward', 'ammField'],
      \ [51, '-', 'ammOperator'],
      \ [51, '0.01', 'ammFloat'],
      \ [53, 'agent', 'ammDeclare'],
      \ [53, 'learner', 'ammDeclName'],
      \ [53, 'q_learning', 'ammBuiltin'],
      \ [53, 'env', 'ammField'],
      \ [54, 'linear', 'ammBuiltin'],
      \ [54, 'steps', 'ammField'],
      \ [55, '20_000', 'ammNumber'],
      \ [58, 'tune', 'ammDeclare'],
      \ [58, 'search', 'ammDeclName'],
      \ [59, 'run', 'ammField'],
      \ [60, 'space', 'ammControl'],
      \ [61, 'lr', 'ammSpaceEntry'],
      \ [61, '~', 'ammTilde'],
      \ [61, 'log_uniform', 'ammBuiltin'],
      \ [61, '1e-4', 'ammFloat'],
      \ [62, 'choice', 'ammBuiltin'],
      \ [63, 'int', 'ammBuiltin'],
      \ [63, 'step', 'ammField', 2],
      \ [65, 'bayes', 'ammBuiltin'],
      \ [65, 'trials', 'ammField'],
      \ [66, 'maximize', 'ammBuiltin'],
      \ [66, 'accuracy', ''],
      \ [67, 'median', 'ammBuiltin'],
      \ [67, 'warmup', 'ammField'],
      \ [69, 'minimize', 'ammBuiltin'],
      \ [69, '5.1', 'ammFloat'],
      \ [69, 'pi', 'ammConstant'],
      \ [69, 'cos', 'ammBuiltin'],
      \ [70, 'conv_width', ''],
      \ [70, 'relu_ish', ''],
      \ [70, 'used', ''],
      \ [70, 'modeled', ''],
      \ [71, '$', 'ammError'],
      \ [71, ';', 'ammError'],
      \ [71, '@', 'ammError'],
      \ [71, '2', 'ammNumber'],
      \ [72, '"$;@"', 'ammString'],
      \ [72, '// $;@', 'ammComment'],
      \ [73, '[x]', ''],
      \ ]
for s:e in s:expect
  call call('s:Expect', s:e)
endfor

" --- every builtin, bare and called (keep equal to syntax/amm.vim's list) ------------
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
enew!
setfiletype amm
call setline(1, map(copy(s:builtins), {_, b -> printf('param x = %s + %s(1, key = 2)', b, b)}))
for s:i in range(len(s:builtins))
  call s:Expect(s:i + 1, s:builtins[s:i], 'ammBuiltin', 1)
  call s:Expect(s:i + 1, s:builtins[s:i], 'ammBuiltin', 2)
  call s:Expect(s:i + 1, 'key', 'ammField')
endfor

" --- indentation: re-indent a flattened block and compare -----------------------------
let s:indented = [
      \ 'backbone features {',
      \ '    conv(8, kernel = 3) relu // comment {',
      \ '    residual {',
      \ '        dense(4)',
      \ '    }',
      \ '}',
      \ 'env maze = grid(',
      \ '    map = """',
      \ '  S . G',
      \ '    # . .',
      \ '""",',
      \ '    slip = 0.1,',
      \ ')',
      \ 'train fit {',
      \ '    metrics = [',
      \ '        accuracy,',
      \ '    ]',
      \ '    note = "{"',
      \ '    epochs = 2',
      \ '}',
      \ ]
enew!
setfiletype amm
" Lines inside the triple-quoted string are data and keep their indentation.
call setline(1, map(copy(s:indented), {_, l -> l =~# '^  S\|^    #\|^"""' ? l : trim(l)}))
normal! gg=G
let s:got = getline(1, '$')
for s:i in range(len(s:indented))
  call s:Check(get(s:got, s:i, '<missing>') ==# s:indented[s:i],
        \ printf('indent line %d: expected %s, got %s', s:i + 1, string(s:indented[s:i]), string(get(s:got, s:i, '<missing>'))))
endfor

" Any error message while loading or running the runtime files is a failure too.
call s:Check(empty(v:errmsg), 'Vim error: ' . v:errmsg)
call writefile([printf('vim: %d passed, %d failed', s:passed, s:failed)], s:log, 'a')
if s:failed > 0
  cquit
endif
qall!
