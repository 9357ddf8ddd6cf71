" Filetype settings for .amm pipeline files (ammc).
if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1

" `gc`-style plugins and `:h 'commentstring'` use this; `///` doc comments continue on <CR>.
setlocal commentstring=//\ %s
setlocal comments=:///,://
setlocal formatoptions-=t formatoptions+=croql

" The language reference and the stdlib indent blocks by four spaces.
setlocal expandtab shiftwidth=4 softtabstop=4 tabstop=8

" `gf` on `lib/blocks` finds lib/blocks.amm (what `use lib.blocks.{…}` imports).
setlocal suffixesadd=.amm

let b:undo_ftplugin = 'setlocal commentstring< comments< formatoptions< expandtab< shiftwidth< softtabstop< tabstop< suffixesadd<'
