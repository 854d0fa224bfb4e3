//! Diagnostics: the loaded source files, byte spans into them, and [`ConfigError`].
//!
//! Every stage of the config layer reports problems through [`Sources::error`], which turns a
//! byte span into a `path:line:col` location (for plain-text output and tests) and keeps the
//! file text and span so that `miette` can render a labelled snippet.

use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};

use super::model::SourceLoc;

/// A byte range in one of the loaded files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: usize, start: usize, end: usize) -> Self {
        Span { file, start, end: end.max(start) }
    }
}

struct SourceFile {
    path: PathBuf,
    text: String,
    /// Byte offsets where lines start; every declaration asks for its location, so finding a
    /// line must not rescan the file (that made loading quadratic in the number of resources).
    line_starts: Vec<usize>,
}

/// The plan files read so far, addressed by index (the `file` of a [`Span`]).
#[derive(Default)]
pub(crate) struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: PathBuf, text: String) -> usize {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        self.files.push(SourceFile { path, text, line_starts });
        self.files.len() - 1
    }

    pub fn path(&self, file: usize) -> &Path {
        self.files.get(file).map(|f| f.path.as_path()).unwrap_or(Path::new("<unknown>"))
    }

    pub fn text(&self, file: usize) -> &str {
        self.files.get(file).map(|f| f.text.as_str()).unwrap_or("")
    }

    /// The 1-based line and column (in characters) of `span.start`.
    pub fn loc(&self, span: Span) -> SourceLoc {
        let text = self.text(span.file);
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        // The last line start at or before `start` (index 0 is always 0).
        let starts = self.files.get(span.file).map(|f| f.line_starts.as_slice()).unwrap_or(&[0]);
        let line = starts.partition_point(|&s| s <= start).max(1);
        let line_start = starts.get(line - 1).copied().unwrap_or(0);
        let col = text[line_start..start].chars().count() + 1;
        SourceLoc { file: self.path(span.file).to_path_buf(), line, col }
    }

    fn located(&self, span: Span, label: &str, message: String) -> Box<Located> {
        let text = self.text(span.file);
        let start = span.start.min(text.len());
        let len = span.end.min(text.len()).saturating_sub(start);
        Box::new(Located {
            loc: self.loc(span),
            message,
            src: NamedSource::new(self.path(span.file).display().to_string(), text.to_string()),
            span: SourceSpan::new(start.into(), len),
            label: label.to_string(),
        })
    }

    /// A plan-language error at `span`.
    pub fn error(&self, span: Span, message: impl Into<String>) -> ConfigError {
        self.error_labelled(span, "here", message)
    }

    /// Like [`Sources::error`], with a short label under the snippet.
    pub fn error_labelled(&self, span: Span, label: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(self.located(span, label, message.into()))
    }

    /// A TOML syntax error at `span`.
    pub fn syntax(&self, span: Span, message: impl Into<String>) -> ConfigError {
        ConfigError::Syntax(self.located(span, "syntax error", message.into()))
    }
}

/// Why the plans could not be loaded. `Display` always starts with `path:line:col: `.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// A plans directory or file that cannot be read (the location is the path itself).
    #[error("{loc}: {message}")]
    #[diagnostic(code(kprov::config::io))]
    Io { loc: SourceLoc, message: String },
    /// The requested environment has no overlay file.
    #[error("{loc}: unknown environment `{env}`; environments: {}", list_or_none(known))]
    #[diagnostic(code(kprov::config::env), help("add plans/env/{env}.toml or pick one of the environments listed"))]
    UnknownEnv { loc: SourceLoc, env: String, known: Vec<String> },
    /// A TOML syntax error.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Syntax(Box<Located>),
    /// Anything the plan language rejects: unknown names, wrong types, bad references, …
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Box<Located>),
    /// Several problems found in one run (in file order), so that one run reports them all.
    /// `Display` is one line per problem, each starting with its `path:line:col: `.
    #[error("{}", lines(errors))]
    #[diagnostic(code(kprov::config::many))]
    Many {
        #[related]
        errors: Vec<ConfigError>,
    },
}

impl ConfigError {
    pub(crate) fn io(path: &Path, message: impl Into<String>) -> Self {
        ConfigError::Io { loc: SourceLoc { file: path.to_path_buf(), line: 1, col: 1 }, message: message.into() }
    }

    /// Where the problem is (the first one's, for several).
    pub fn loc(&self) -> &SourceLoc {
        match self {
            ConfigError::Io { loc, .. } | ConfigError::UnknownEnv { loc, .. } => loc,
            ConfigError::Syntax(l) | ConfigError::Invalid(l) => &l.loc,
            ConfigError::Many { errors } => match errors.first() {
                Some(e) => e.loc(),
                None => unreachable!("ConfigError::Many is only made from two or more errors"),
            },
        }
    }

    /// One error for a list of them: itself for one, [`ConfigError::Many`] for more (sorted by
    /// location, so a run reports them in file order); `None` for none.
    pub fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        errors = errors.into_iter().flat_map(ConfigError::into_errors).collect();
        errors.sort_by(|a, b| {
            let (a, b) = (a.loc(), b.loc());
            (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col))
        });
        errors.dedup_by(|a, b| a.to_string() == b.to_string());
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Many { errors }),
        }
    }

    /// The single problems: the list of a [`ConfigError::Many`], or this one.
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many { errors } => errors.iter().collect(),
            one => vec![one],
        }
    }

    fn into_errors(self) -> Vec<ConfigError> {
        match self {
            ConfigError::Many { errors } => errors,
            one => vec![one],
        }
    }
}

fn lines(errors: &[ConfigError]) -> String {
    let v: Vec<String> = errors.iter().map(ToString::to_string).collect();
    v.join("\n")
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// An error with a position in a plan file and the file's text for rendering.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{loc}: {message}")]
#[diagnostic(code(kprov::config))]
pub struct Located {
    pub loc: SourceLoc,
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{label}")]
    span: SourceSpan,
    label: String,
}

/// `"; did you mean `x`?"` for the candidate closest to `name`, or `""` when none is close.
///
/// Close means a small edit distance (typos, swapped letters) or a high Jaro-Winkler
/// similarity (a shared prefix, as in `cidr` → `cidr_block`).
pub(crate) fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    match closest(name, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// The candidate closest to `name`, if one is close (see [`did_you_mean`]).
pub(crate) fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let max_edits = (name.chars().count() / 3).max(1);
    let score = |edits: usize, jw: f64, c: &str| {
        let len = name.chars().count().max(c.chars().count()).max(1);
        jw.max(1.0 - edits as f64 / len as f64)
    };
    let best = candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(name, c), strsim::jaro_winkler(name, c), c))
        .filter(|(edits, jw, _)| *edits <= max_edits || *jw >= 0.85)
        .max_by(|a, b| score(a.0, a.1, a.2).total_cmp(&score(b.0, b.1, b.2)));
    best.map(|(_, _, c)| c)
}

/// `a, b, c` with backticks, for "expected one of" messages.
pub(crate) fn ticks<'c>(names: impl IntoIterator<Item = &'c str>) -> String {
    let v: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}
