//! A plan file as a tree of spanned values.
//!
//! `toml_edit` parses the file (keeping byte spans); this module copies what the plan language
//! needs into a small owned tree, [`Node`], where every value and key knows its [`Span`]. Tables
//! without a span of their own (implicit `[a.b]` parents, dotted keys) borrow their key's span,
//! and standard tables are spanned by their `[header]` line, so errors point at something the
//! user wrote.

use toml_edit::{ImDocument, Item, Table, Value as TomlValue};

use super::diag::{ConfigError, Sources, Span};
use crate::resource::Value;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// `content` is the byte offset in the file where the decoded string starts, when the
    /// decoded text is byte-for-byte the source text (no escapes), so that positions inside
    /// the string (of a `${...}`) map onto the file; otherwise errors point at the whole value.
    Str {
        value: String,
        content: Option<usize>,
    },
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    List(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Table(e) => Some(e),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Str { .. } => "a string",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a float",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Datetime(_) => "a date-time",
            NodeKind::List(_) => "a list",
            NodeKind::Table(_) => "a table",
        }
    }

    /// The plain value, with strings taken literally (no `${...}` evaluation).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Str { value, .. } => Value::String(value.clone()),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Datetime(d) => Value::String(d.clone()),
            NodeKind::List(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Table(entries) => {
                let mut sorted: Vec<&Entry> = entries.iter().collect();
                sorted.sort_by(|a, b| a.key.cmp(&b.key));
                Value::Object(sorted.into_iter().map(|e| (e.key.clone(), e.value.to_value())).collect())
            }
        }
    }
}

/// Parse one file (already added to `sources`) into its root table.
pub(crate) fn parse_file(sources: &Sources, file: usize) -> Result<Node, ConfigError> {
    let text = sources.text(file);
    let doc = ImDocument::parse(text).map_err(|e| {
        let r = e.span().unwrap_or(0..0);
        sources.syntax(Span::new(file, r.start, r.end), e.message().trim().replace('\n', ": "))
    })?;
    let cx = Conv { file, text };
    Ok(Node { span: Span::new(file, 0, 0), kind: NodeKind::Table(cx.table(doc.as_table())) })
}

struct Conv<'t> {
    file: usize,
    text: &'t str,
}

impl Conv<'_> {
    fn span(&self, r: Option<std::ops::Range<usize>>, fallback: Span) -> Span {
        r.map_or(fallback, |r| Span::new(self.file, r.start, r.end))
    }

    fn table(&self, t: &Table) -> Vec<Entry> {
        t.iter()
            .map(|(k, item)| {
                let key_span = self.span(t.key(k).and_then(|k| k.span()), Span::new(self.file, 0, 0));
                Entry { key: k.to_string(), key_span, value: self.item(item, key_span) }
            })
            .collect()
    }

    fn item(&self, item: &Item, key_span: Span) -> Node {
        match item {
            Item::Value(v) => self.value(v, key_span),
            Item::Table(t) => {
                // A standard table's span covers its header and body; point at the header line.
                let span = match t.span() {
                    Some(r) if !t.is_implicit() && !t.is_dotted() => {
                        let header_end =
                            self.text.get(r.clone()).and_then(|s| s.find('\n')).map_or(r.end, |i| r.start + i);
                        Span::new(self.file, r.start, header_end)
                    }
                    _ => key_span,
                };
                Node { span, kind: NodeKind::Table(self.table(t)) }
            }
            Item::ArrayOfTables(a) => {
                let items = a.iter().map(|t| self.item(&Item::Table(t.clone()), key_span)).collect();
                Node { span: self.span(a.span(), key_span), kind: NodeKind::List(items) }
            }
            // Not produced by the parser for present keys; treat as an empty table.
            Item::None => Node { span: key_span, kind: NodeKind::Table(Vec::new()) },
        }
    }

    fn value(&self, v: &TomlValue, key_span: Span) -> Node {
        let span = self.span(v.span(), key_span);
        let kind = match v {
            TomlValue::String(s) => {
                let value = s.value().to_string();
                let content = self.string_content(span, &value);
                NodeKind::Str { value, content }
            }
            TomlValue::Integer(i) => NodeKind::Int(*i.value()),
            TomlValue::Float(f) => NodeKind::Float(*f.value()),
            TomlValue::Boolean(b) => NodeKind::Bool(*b.value()),
            TomlValue::Datetime(d) => NodeKind::Datetime(d.value().to_string()),
            TomlValue::Array(a) => NodeKind::List(a.iter().map(|v| self.value(v, span)).collect()),
            TomlValue::InlineTable(t) => NodeKind::Table(
                t.iter()
                    .map(|(k, v)| {
                        let key_span = self.span(t.key(k).and_then(|k| k.span()), span);
                        Entry { key: k.to_string(), key_span, value: self.value(v, key_span) }
                    })
                    .collect(),
            ),
        };
        Node { span, kind }
    }

    /// Where the decoded `value` starts in the file, if the source text between the quotes is
    /// exactly `value` (no escapes, no line-ending backslashes).
    fn string_content(&self, span: Span, value: &str) -> Option<usize> {
        let raw = self.text.get(span.start..span.end)?;
        let delim = if raw.starts_with("\"\"\"") || raw.starts_with("'''") { 3 } else { 1 };
        let inner = raw.get(delim..raw.len().checked_sub(delim)?)?;
        // A newline right after the opening delimiter of a multi-line string is not content.
        let skip = if delim == 3 {
            if inner.starts_with("\r\n") {
                2
            } else if inner.starts_with('\n') {
                1
            } else {
                0
            }
        } else {
            0
        };
        (inner.get(skip..)? == value).then_some(span.start + delim + skip)
    }
}
