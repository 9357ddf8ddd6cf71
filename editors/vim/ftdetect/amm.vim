" .amm pipeline files (ammc).
autocmd BufNewFile,BufRead *.amm setfiletype amm
