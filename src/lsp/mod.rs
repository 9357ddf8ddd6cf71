//! `ammc lsp`: a Language Server Protocol server over stdio (lsp-server + lsp-types, as
//! rust-analyzer). It keeps each open document's text and its latest [`ide::Analysis`],
//! re-analysed on every change (full-text sync; one analysis is a few milliseconds), and
//! turns `ide` answers (byte offsets, strings) into the protocol's types (`convert`).
//! A request that panics gets an error response; the server keeps running.

mod convert;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, HoverProviderCapability, InitializeParams,
    OneOf, RenameOptions, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind,
    Url,
};
use serde_json::Value;

use crate::ide::Analysis;
use crate::ide::line_index::LineIndex;

/// One open document.
pub(crate) struct Document {
    pub(crate) uri: Url,
    pub(crate) analysis: Analysis,
    pub(crate) index: LineIndex,
}

impl Document {
    fn new(uri: Url, text: &str) -> Document {
        let path = uri.to_file_path().ok();
        let name = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| uri.to_string());
        let analysis = Analysis::new(&name, text, path.as_deref());
        Document {
            uri,
            index: LineIndex::new(text),
            analysis,
        }
    }
}

/// Runs the server on stdin/stdout until the client shuts it down.
pub fn run_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let served = serve(&connection);
    // The writer thread ends when the last sender is gone.
    drop(connection);
    served?;
    io_threads.join().map_err(|e| e.to_string())
}

/// The server's capabilities.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(false),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), "=".into(), ".".into()]),
            ..Default::default()
        }),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..Default::default()
    }
}

/// Serves one connection: the initialize handshake, then messages until `exit`.
pub fn serve(connection: &Connection) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    let init = connection.initialize(caps).map_err(|e| e.to_string())?;
    let _: InitializeParams = serde_json::from_value(init).map_err(|e| e.to_string())?;
    let mut docs: HashMap<Url, Document> = HashMap::new();
    let mut shut_down = false;
    for msg in &connection.receiver {
        match msg {
            Message::Request(r) if r.method == req::Shutdown::METHOD => {
                shut_down = true;
                send(connection, Message::Response(Response::new_ok(r.id, ())));
            }
            Message::Request(r) if shut_down => {
                let message = "the server is shutting down".to_string();
                let error = Response::new_err(r.id, ErrorCode::InvalidRequest as i32, message);
                send(connection, Message::Response(error));
            }
            Message::Notification(n) if n.method == notif::Exit::METHOD => {
                // Exit without a shutdown first is an error by the protocol.
                return if shut_down {
                    Ok(())
                } else {
                    Err("exit before shutdown".into())
                };
            }
            Message::Request(r) => {
                let id = r.id.clone();
                let response = match catch_unwind(AssertUnwindSafe(|| handle(&docs, r))) {
                    Ok(Ok(value)) => Response::new_ok(id, value),
                    Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
                    Err(_) => Response::new_err(
                        id,
                        ErrorCode::InternalError as i32,
                        "ammc lsp: internal error answering this request (a bug; please report it)"
                            .into(),
                    ),
                };
                send(connection, Message::Response(response));
            }
            Message::Notification(n) => {
                let published = catch_unwind(AssertUnwindSafe(|| notify(&mut docs, n)));
                if let Ok(Some(p)) = published {
                    send(connection, Message::Notification(p));
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

fn send(connection: &Connection, msg: Message) {
    // The client went away: the receive loop ends on its own.
    let _ = connection.sender.send(msg);
}

/// Applies a document notification; returns the diagnostics to publish, if any.
fn notify(docs: &mut HashMap<Url, Document>, n: Notification) -> Option<Notification> {
    let uri = match n.method.as_str() {
        notif::DidOpenTextDocument::METHOD => {
            let p: lsp_types::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
            let uri = p.text_document.uri;
            docs.insert(
                uri.clone(),
                Document::new(uri.clone(), &p.text_document.text),
            );
            uri
        }
        notif::DidChangeTextDocument::METHOD => {
            let p: lsp_types::DidChangeTextDocumentParams =
                serde_json::from_value(n.params).ok()?;
            let uri = p.text_document.uri;
            // Full sync: the last change holds the whole text.
            let text = p.content_changes.into_iter().last()?.text;
            docs.insert(uri.clone(), Document::new(uri.clone(), &text));
            uri
        }
        notif::DidSaveTextDocument::METHOD => {
            let p: lsp_types::DidSaveTextDocumentParams = serde_json::from_value(n.params).ok()?;
            let uri = p.text_document.uri;
            // Data files and imports may have changed on disk: analyse again.
            let text = docs.get(&uri)?.analysis.text().to_string();
            docs.insert(uri.clone(), Document::new(uri.clone(), &text));
            uri
        }
        notif::DidCloseTextDocument::METHOD => {
            let p: lsp_types::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
            docs.remove(&p.text_document.uri);
            return Some(publish(p.text_document.uri, Vec::new()));
        }
        _ => return None,
    };
    let doc = docs.get(&uri)?;
    Some(publish(uri, convert::diagnostics(doc)))
}

fn publish(uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) -> Notification {
    let params = lsp_types::PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    Notification::new(notif::PublishDiagnostics::METHOD.into(), params)
}

type Answer = Result<Value, (ErrorCode, String)>;

fn parse<P: serde::de::DeserializeOwned>(params: Value) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn doc<'a>(
    docs: &'a HashMap<Url, Document>,
    uri: &Url,
) -> Result<&'a Document, (ErrorCode, String)> {
    docs.get(uri)
        .ok_or_else(|| (ErrorCode::InvalidParams, format!("{uri} is not open")))
}

fn json<T: serde::Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

/// Answers one request.
fn handle(docs: &HashMap<Url, Document>, r: Request) -> Answer {
    match r.method.as_str() {
        req::HoverRequest::METHOD => {
            let p: lsp_types::HoverParams = parse(r.params)?;
            let pos = p.text_document_position_params;
            let d = doc(docs, &pos.text_document.uri)?;
            json(convert::hover(d, pos.position))
        }
        req::InlayHintRequest::METHOD => {
            let p: lsp_types::InlayHintParams = parse(r.params)?;
            let d = doc(docs, &p.text_document.uri)?;
            json(convert::inlay_hints(d, p.range))
        }
        req::GotoDefinition::METHOD => {
            let p: lsp_types::GotoDefinitionParams = parse(r.params)?;
            let pos = p.text_document_position_params;
            let d = doc(docs, &pos.text_document.uri)?;
            json(convert::definition(d, pos.position))
        }
        req::References::METHOD => {
            let p: lsp_types::ReferenceParams = parse(r.params)?;
            let pos = p.text_document_position;
            let d = doc(docs, &pos.text_document.uri)?;
            json(convert::references(d, pos.position))
        }
        req::Completion::METHOD => {
            let p: lsp_types::CompletionParams = parse(r.params)?;
            let pos = p.text_document_position;
            let d = doc(docs, &pos.text_document.uri)?;
            json(convert::completion(d, pos.position))
        }
        req::Rename::METHOD => {
            let p: lsp_types::RenameParams = parse(r.params)?;
            let pos = p.text_document_position;
            let d = doc(docs, &pos.text_document.uri)?;
            let edit = convert::rename(d, pos.position, &p.new_name)
                .map_err(|e| (ErrorCode::InvalidRequest, e))?;
            json(edit)
        }
        req::Formatting::METHOD => {
            let p: lsp_types::DocumentFormattingParams = parse(r.params)?;
            let d = doc(docs, &p.text_document.uri)?;
            json(convert::formatting(d))
        }
        req::DocumentSymbolRequest::METHOD => {
            let p: lsp_types::DocumentSymbolParams = parse(r.params)?;
            let d = doc(docs, &p.text_document.uri)?;
            json(convert::symbols(d))
        }
        req::CodeActionRequest::METHOD => {
            let p: lsp_types::CodeActionParams = parse(r.params)?;
            let d = doc(docs, &p.text_document.uri)?;
            json(convert::code_actions(d, p.range))
        }
        other => Err((
            ErrorCode::MethodNotFound,
            format!("ammc lsp does not answer {other}"),
        )),
    }
}
