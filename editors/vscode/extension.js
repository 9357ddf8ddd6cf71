'use strict';
// Starts `ammc lsp` for .amm files: diagnostics as you type, each layer's output shape as
// an inlay hint, hovers, go to definition (into the standard library too), completion,
// rename, formatting and quick fixes. The server's path is the setting `amm.server.path`
// (default: `ammc` on PATH).
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration('amm');
  if (!config.get('server.enabled', true)) {
    return;
  }
  const command = config.get('server.path', 'ammc');
  const serverOptions = { command, args: ['lsp'], transport: TransportKind.stdio };
  const clientOptions = { documentSelector: [{ scheme: 'file', language: 'amm' }] };
  client = new LanguageClient('amm', 'ammc language server', serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('amm.server')) {
        vscode.commands.executeCommand('workbench.action.restartExtensionHost');
      }
    }),
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
