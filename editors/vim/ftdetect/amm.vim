" .amm machine-learning pipeline files
autocmd BufRead,BufNewFile *.amm setfiletype amm
