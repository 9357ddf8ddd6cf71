-- Headless Neovim (0.7+) as a real LSP client of `ammc lsp`: opens an example, waits for
-- the server's diagnostics (none for a valid file, one with its code after a typo) and asks
-- for inlay hints through the client. Run by editors/nvim/test.sh.
local ammc = os.getenv('AMMC_BIN')
local file = os.getenv('AMM_FILE')
local failures = 0
local function check(ok, what)
  if ok then
    print('ok   ' .. what)
  else
    print('FAIL ' .. what)
    failures = failures + 1
  end
end

vim.cmd('edit ' .. file)
local buf = vim.api.nvim_get_current_buf()
local client_id = vim.lsp.start_client({
  name = 'ammc',
  cmd = { ammc, 'lsp' },
  root_dir = vim.fn.fnamemodify(file, ':h'),
})
check(client_id ~= nil, 'client started')
vim.lsp.buf_attach_client(buf, client_id)

local function wait_diagnostics(pred, what)
  local ok = vim.wait(10000, function()
    return pred(vim.diagnostic.get(buf))
  end, 50)
  check(ok, what)
end

-- A valid example: the server answers with no diagnostics; then the inlay hints.
vim.wait(10000, function()
  local c = vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.initialized
end, 50)
local params = {
  textDocument = vim.lsp.util.make_text_document_params(buf),
  range = { start = { line = 0, character = 0 }, ['end'] = { line = 9999, character = 0 } },
}
local responses = vim.lsp.buf_request_sync(buf, 'textDocument/inlayHint', params, 10000) or {}
local labels = {}
for _, r in pairs(responses) do
  for _, h in ipairs(r.result or {}) do
    table.insert(labels, (h.position.line + 1) .. ':' .. h.label)
  end
end
print('inlay hints: ' .. table.concat(labels, ' '))
check(vim.tbl_contains(labels, '10:[N, 16, 8, 8]'), 'inlay hint [N, 16, 8, 8] on line 10')

-- A typo: the diagnostic arrives with its code.
vim.api.nvim_buf_set_lines(buf, 10, 11, false, { '    maxpol(2)' })
wait_diagnostics(function(ds)
  for _, d in ipairs(ds) do
    if d.code == 'amm::name::unknown_layer' and d.lnum == 10 then
      return true
    end
  end
  return false
end, 'diagnostic amm::name::unknown_layer on line 11 after a typo')

-- Fixed again: the diagnostics are cleared.
vim.api.nvim_buf_set_lines(buf, 10, 11, false, { '    maxpool(2)' })
wait_diagnostics(function(ds)
  return #ds == 0
end, 'diagnostics cleared after the fix')

vim.lsp.stop_client(client_id)
print(failures == 0 and 'nvim lsp: all passed' or ('nvim lsp: ' .. failures .. ' failed'))
vim.cmd(failures == 0 and 'qall!' or 'cquit!')
