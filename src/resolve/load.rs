//! Loading a program: the root file plus everything it imports, transitively.
//!
//! `use std.x.{…}` reads the standard library embedded in the binary; any other path
//! `a.b.{…}` reads `a/b.amm` beside the importing file. Import cycles are diagnostics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Diag, suggest};
use crate::source::{FileId, SourceMap};
use crate::syntax::ast::{File, ItemKind, UseDecl};
use crate::syntax::parse_file;

/// The standard library, embedded so an installed `ammc` needs no files beside it.
pub static STDLIB: &[(&str, &str)] = &[
    ("std.heads", include_str!("../../stdlib/heads.amm")),
    ("std.backbones", include_str!("../../stdlib/backbones.amm")),
];

/// Largest source file accepted (bytes), and the most all files of one program may total.
/// Far beyond any hand-written pipeline (the largest example is 3 KB); parsing costs about
/// 1 s and 100 bytes of memory per byte of input, so this bounds both on accidental inputs
/// such as a dataset passed as the program.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// Why a source file could not be read.
#[derive(Debug)]
pub struct SourceReadError {
    /// Stable code (`amm::io::not_a_file`, `amm::io::too_large`, `amm::io::read`).
    pub code: &'static str,
    /// What went wrong, without the file name.
    pub message: String,
    /// The fix.
    pub help: &'static str,
}

impl SourceReadError {
    /// The error as a diagnostic about `name`.
    pub fn diag(&self, name: &str) -> Diag {
        Diag::new(self.code, format!("`{name}` {}", self.message)).help(self.help)
    }
}

/// Reads a source file: a regular file (a FIFO would block, `/dev/zero` never ends) of at
/// most [`MAX_SOURCE_BYTES`], its size checked before reading.
pub fn read_source(path: &Path) -> Result<Vec<u8>, SourceReadError> {
    use crate::input::InputError;
    crate::input::read_bounded(path, MAX_SOURCE_BYTES as u64).map_err(|e| match e {
        InputError::NotRegular { kind } => SourceReadError {
            code: "amm::io::not_a_file",
            message: format!("is {kind}, not a source file"),
            help: "give the path of an .amm file",
        },
        InputError::TooLarge { len, limit } => SourceReadError {
            code: "amm::io::too_large",
            message: format!("is {len} bytes; the limit for a source file is {limit}"),
            help: "is this really an .amm file? Split large programs into modules joined with `use`",
        },
        InputError::Io(e) => SourceReadError {
            code: "amm::io::read",
            message: format!("cannot be read: {e}"),
            help: "check the path and its permissions",
        },
    })
}

/// Index of a module in [`Loaded::modules`]; the root file is module 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

/// One parsed file of the program.
#[derive(Debug)]
pub struct Module {
    /// Dotted name (`std.heads`) or the path as given for the root.
    pub name: String,
    /// Its source.
    pub file: FileId,
    /// Its syntax tree.
    pub ast: File,
    /// For each `use` in the file (by item index), the module it loaded.
    pub imports: HashMap<usize, ModuleId>,
}

/// Every module of a program, root first.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Modules in load order (root = 0).
    pub modules: Vec<Module>,
}

/// Loads `root_text` (named `root_name`, found at `root_path` on disk if any) and its imports.
/// Returns what could be loaded and all diagnostics met on the way.
pub fn load(
    sources: &mut SourceMap,
    root_name: &str,
    root_text: &str,
    root_path: Option<&Path>,
) -> (Loaded, Vec<Diag>) {
    let mut loader = Loader {
        sources,
        loaded: Loaded::default(),
        by_key: HashMap::new(),
        diags: Vec::new(),
        stack: Vec::new(),
        total: root_text.len(),
    };
    let dir = root_path.and_then(Path::parent).map(Path::to_path_buf);
    let key = root_path.map_or_else(|| root_name.to_string(), canonical_key);
    loader.add(
        root_name.to_string(),
        root_name.to_string(),
        key,
        root_text.to_string(),
        dir,
    );
    (loader.loaded, loader.diags)
}

fn canonical_key(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

struct Loader<'s> {
    sources: &'s mut SourceMap,
    loaded: Loaded,
    by_key: HashMap<String, ModuleId>,
    diags: Vec<Diag>,
    /// Modules being loaded (for cycle detection), with their names.
    stack: Vec<(String, String)>,
    /// Bytes of source read so far (root and imports).
    total: usize,
}

impl Loader<'_> {
    fn add(
        &mut self,
        name: String,
        display: String,
        key: String,
        text: String,
        dir: Option<PathBuf>,
    ) -> Option<ModuleId> {
        let file = self.sources.add(display, text.clone());
        let ast = match parse_file(file, &text) {
            Ok(ast) => ast,
            Err(ds) => {
                self.diags.extend(ds);
                return None;
            }
        };
        let id = ModuleId(self.loaded.modules.len() as u32);
        self.by_key.insert(key.clone(), id);
        self.stack.push((key, name.clone()));
        let uses: Vec<(usize, UseDecl)> = ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match &it.kind {
                ItemKind::Use(u) => Some((i, u.clone())),
                _ => None,
            })
            .collect();
        self.loaded.modules.push(Module {
            name,
            file,
            ast,
            imports: HashMap::new(),
        });
        for (index, u) in uses {
            if let Some(m) = self.import(&u, dir.as_deref()) {
                self.loaded.modules[id.0 as usize].imports.insert(index, m);
            }
        }
        self.stack.pop();
        Some(id)
    }

    fn import(&mut self, u: &UseDecl, dir: Option<&Path>) -> Option<ModuleId> {
        let dotted: Vec<&str> = u.path.iter().map(|i| i.name.as_str()).collect();
        let dotted = dotted.join(".");
        if u.path.first().is_some_and(|p| p.name == "std") {
            let Some((_, text)) = STDLIB.iter().find(|(n, _)| *n == dotted) else {
                let mut d = Diag::new(
                    "amm::name::unknown_module",
                    format!("no module `{dotted}` in the standard library"),
                )
                .primary(u.path_span, "not in the standard library");
                let names = STDLIB.iter().map(|(n, _)| *n);
                d = match suggest(&dotted, names) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "the standard library has: {}",
                        STDLIB
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                self.diags.push(d);
                return None;
            };
            let display = format!("{}.amm", dotted.replace('.', "/"));
            return self.enter(dotted.clone(), display, dotted, text.to_string(), None, u);
        }
        let mut rel = PathBuf::new();
        for seg in &u.path {
            rel.push(&seg.name);
        }
        rel.set_extension("amm");
        let base = dir.map(Path::to_path_buf).unwrap_or_default();
        let path = base.join(&rel);
        let key = canonical_key(&path);
        if let Some(m) = self.cycle_or_loaded(&key, u) {
            return m;
        }
        let bytes = match read_source(&path) {
            Ok(b) => b,
            Err(e) if e.code == "amm::io::read" => {
                self.diags.push(
                    Diag::new("amm::name::unknown_module", format!("cannot read module `{dotted}`"))
                        .primary(u.path_span, format!("{}: {}", path.display(), e.message))
                        .help(format!(
                            "`use {dotted}.{{…}}` reads `{}` relative to this file; standard modules start with `std.`",
                            rel.display()
                        )),
                );
                return None;
            }
            Err(e) => {
                self.diags.push(
                    e.diag(&path.display().to_string())
                        .primary(u.path_span, "imported here"),
                );
                return None;
            }
        };
        self.total += bytes.len();
        if self.total > MAX_SOURCE_BYTES {
            self.diags.push(
                Diag::new(
                    "amm::io::too_large",
                    format!(
                        "the program's files total more than {MAX_SOURCE_BYTES} bytes with `{}`",
                        path.display()
                    ),
                )
                .primary(u.path_span, "imported here")
                .help("is every import an .amm file? Programs this large are not hand-written"),
            );
            return None;
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                let new_dir = path.parent().map(Path::to_path_buf);
                self.enter(dotted, path.display().to_string(), key, text, new_dir, u)
            }
            Err(e) => {
                self.diags.push(
                    Diag::new(
                        "amm::io::utf8",
                        format!("`{}` is not valid UTF-8", path.display()),
                    )
                    .primary(
                        u.path_span,
                        format!(
                            "imported here; invalid byte at offset {}",
                            e.utf8_error().valid_up_to()
                        ),
                    )
                    .help("save the file as UTF-8"),
                );
                None
            }
        }
    }

    /// Returns `Some(result)` when the module is already loaded (or forms a cycle).
    fn cycle_or_loaded(&mut self, key: &str, u: &UseDecl) -> Option<Option<ModuleId>> {
        if let Some(pos) = self.stack.iter().position(|(k, _)| k == key) {
            let chain: Vec<&str> = self.stack[pos..].iter().map(|(_, n)| n.as_str()).collect();
            let cycle = format!("{} -> {}", chain.join(" -> "), chain[0]);
            self.diags.push(
                Diag::new("amm::name::import_cycle", "import cycle")
                    .primary(
                        u.path_span,
                        "this import leads back to a file that is still being loaded",
                    )
                    .help(format!(
                        "the cycle is {cycle}; move the shared declarations into a third file"
                    )),
            );
            return Some(None);
        }
        self.by_key.get(key).map(|m| Some(*m))
    }

    fn enter(
        &mut self,
        name: String,
        display: String,
        key: String,
        text: String,
        dir: Option<PathBuf>,
        u: &UseDecl,
    ) -> Option<ModuleId> {
        if let Some(m) = self.cycle_or_loaded(&key, u) {
            return m;
        }
        self.add(name, display, key, text, dir)
    }
}
