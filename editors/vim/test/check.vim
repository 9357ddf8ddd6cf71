" Headless check of syntax/amm.vim: every (line, column, group) in expected.txt must match
" synIDattr(synID(l, c, 1), 'name'). Exits with :cquit on any mismatch.
let s:here = expand('<sfile>:p:h')
execute 'set runtimepath^=' . fnameescape(fnamemodify(s:here, ':h'))
syntax on
filetype on
execute 'edit ' . fnameescape(s:here . '/sample.amm')
if &filetype !=# 'amm'
  echo 'ftdetect did not set filetype=amm'
  cquit
endif
let s:failures = 0
for s:line in readfile(s:here . '/expected.txt')
  let [s:l, s:c, s:want] = split(s:line)
  let s:got = synIDattr(synID(str2nr(s:l), str2nr(s:c), 1), 'name')
  let s:ok = s:got ==# s:want || (s:want ==# 'ammBuiltin' && s:got ==# 'ammBuiltinCall')
  if !s:ok
    let s:failures += 1
    call writefile([printf('line %s col %s: expected %s, got %s', s:l, s:c, s:want, s:got)], '/dev/stderr', 'a')
  endif
endfor
if s:failures > 0
  cquit
endif
qall!
