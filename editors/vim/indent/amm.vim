" Indentation for .amm files: one level per `{`, `(` or `[` that ends a line, one level
" less on a line that starts with a closing bracket. Lines that start inside a
" triple-quoted string (grid maps) are data and keep the indentation they have.
if exists('b:did_indent')
  finish
endif
let b:did_indent = 1

setlocal indentexpr=GetAmmIndent(v:lnum)
setlocal indentkeys=0{,0},0),0],!^F,o,O
setlocal autoindent
let b:undo_indent = 'setlocal indentexpr< indentkeys< autoindent<'

if exists('*GetAmmIndent')
  finish
endif

" The syntax group at the first non-blank character of line `lnum` ('' for a blank line).
function! s:FirstGroup(lnum) abort
  let col = match(getline(a:lnum), '\S')
  return col < 0 ? '' : synIDattr(synID(a:lnum, col + 1, 1), 'name')
endfunction

" Line `lnum` without its trailing `//` comment and trailing blanks.
function! s:Code(lnum) abort
  let line = getline(a:lnum)
  let col = match(line, '//')
  while col >= 0
    if synIDattr(synID(a:lnum, col + 1, 1), 'name') =~# 'Comment$'
      return substitute(strpart(line, 0, col), '\s\+$', '', '')
    endif
    let col = match(line, '//', col + 1)
  endwhile
  return substitute(line, '\s\+$', '', '')
endfunction

function! GetAmmIndent(lnum) abort
  if s:FirstGroup(a:lnum) ==# 'ammTripleString'
    return indent(a:lnum)
  endif
  " The previous line of code, skipping the body and the closing line of a triple-quoted
  " string back to the line that opened it.
  let prev = prevnonblank(a:lnum - 1)
  while prev > 0 && s:FirstGroup(prev) ==# 'ammTripleString'
    let prev = prevnonblank(prev - 1)
  endwhile
  if prev == 0
    return 0
  endif
  let ind = indent(prev)
  let code = s:Code(prev)
  if code =~# '[{(\[]$'
        \ && synIDattr(synID(prev, strlen(code), 1), 'name') !~# 'String\|Comment'
    let ind += shiftwidth()
  endif
  if getline(a:lnum) =~# '^\s*[})\]]'
    let ind -= shiftwidth()
  endif
  return max([ind, 0])
endfunction
