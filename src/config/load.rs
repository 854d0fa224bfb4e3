//! Reading the plans directory into a [`RawPlan`]: which files, in which order, and what each
//! top-level section holds. Nothing is evaluated here; this stage checks the shape of the files
//! (known sections, tables where tables belong, known resource kinds, no duplicate names) and
//! applies the environment overlay to the variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::{did_you_mean, ticks, ConfigError, Sources, Span};
use super::node::{parse_file, Entry, Node, NodeKind};
use crate::resource::{Registry, Value};

/// The plans of one environment, structurally checked but not evaluated.
pub(crate) struct RawPlan {
    pub stack_name: String,
    pub default_tags: Option<Node>,
    /// Declared variables with the overlay applied.
    pub variables: BTreeMap<String, Variable>,
    /// In declaration order.
    pub locals: Vec<Entry>,
    /// In file order, then declaration order.
    pub resources: Vec<RawResource>,
    /// The `region` variable.
    pub region: String,
    /// The `[backend]` table, if a base file has one (evaluated by `config::backend`).
    pub backend: Option<Entry>,
    /// The `[drift]` table, if a base file has one (evaluated by `config::drift`).
    pub drift: Option<Entry>,
    /// Every `[[moved]]` block of the base files, in file order (checked by `config::moved`).
    pub moved: Vec<Node>,
}

pub(crate) struct Variable {
    pub value: Value,
    /// The value that is in effect (the overlay's when it sets one).
    pub span: Span,
}

/// One `[resource.KIND.NAME]` table.
pub(crate) struct RawResource {
    pub kind: String,
    pub name: String,
    /// The `[resource.KIND.NAME]` header (or the NAME key for inline tables).
    pub loc: Span,
    pub for_each: Option<Node>,
    pub depends_on: Option<Node>,
    /// The `lifecycle` table (read by `config::lifecycle`).
    pub lifecycle: Option<Entry>,
    /// Every other key: the attributes.
    pub attrs: Vec<Entry>,
}

const SECTIONS: [&str; 7] = ["stack", "variables", "locals", "resource", "backend", "drift", "moved"];

/// The base plan files (`plans/*.toml`) in sorted filename order.
pub(crate) fn base_files(plans_dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(plans_dir)
        .map_err(|e| ConfigError::io(plans_dir, format!("cannot read the plans directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::io(plans_dir, "no plan files (*.toml) in the plans directory"));
    }
    Ok(files)
}

/// Names of `plans/env/*.toml`, sorted.
pub(crate) fn environments(plans_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(plans_dir.join("env")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, format!("cannot read: {e}")))
}

/// Read, parse and structurally check the base files and the overlay of `env`.
pub(crate) fn read_plans(
    plans_dir: &Path,
    env: &str,
    registry: &Registry,
    sources: &mut Sources,
) -> Result<RawPlan, ConfigError> {
    let overlay_path = plans_dir.join("env").join(format!("{env}.toml"));
    // The env name becomes a path: only plain names, so `../x` cannot escape plans/env.
    let plain = !env.is_empty() && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain || !overlay_path.is_file() {
        return Err(ConfigError::UnknownEnv {
            loc: super::SourceLoc { file: overlay_path, line: 1, col: 1 },
            env: env.to_string(),
            known: environments(plans_dir),
        });
    }
    let mut base = Vec::new();
    for path in base_files(plans_dir)? {
        let text = read_text(&path)?;
        base.push(sources.add(path, text));
    }
    let overlay_text = read_text(&overlay_path)?;
    let overlay = sources.add(overlay_path, overlay_text);
    check_plans(&base, overlay, registry, sources)
}

/// Parse and structurally check files already in `sources`: the base files `base` (in the
/// order given) and the overlay `overlay`. [`read_plans`] after reading the directory, and
/// [`super::load_texts`] for plans held in memory.
pub(crate) fn check_plans(
    base: &[usize],
    overlay: usize,
    registry: &Registry,
    sources: &Sources,
) -> Result<RawPlan, ConfigError> {
    let mut b = Builder::new(sources, registry);
    for &file in base {
        b.base_file(&parse_file(sources, file)?)?;
    }
    b.overlay(&parse_file(sources, overlay)?)?;
    b.finish(base.first().copied().unwrap_or(0))
}

struct Builder<'a> {
    sources: &'a Sources,
    registry: &'a Registry,
    stack: Option<(String, Span)>,
    default_tags: Option<Node>,
    variables: BTreeMap<String, (Variable, Span)>,
    locals: Vec<Entry>,
    /// Local name → index in `locals`, for the duplicate check (a linear search was quadratic).
    local_names: std::collections::HashMap<String, usize>,
    resources: Vec<RawResource>,
    /// (kind, name) → index in `resources`, for the duplicate check (a linear search made
    /// loading quadratic in the number of resources).
    declared: std::collections::HashMap<(String, String), usize>,
    backend: Option<Entry>,
    drift: Option<Entry>,
    moved: Vec<Node>,
}

impl<'a> Builder<'a> {
    fn new(sources: &'a Sources, registry: &'a Registry) -> Self {
        Builder {
            sources,
            registry,
            stack: None,
            default_tags: None,
            variables: BTreeMap::new(),
            locals: Vec::new(),
            local_names: std::collections::HashMap::new(),
            resources: Vec::new(),
            declared: std::collections::HashMap::new(),
            backend: None,
            drift: None,
            moved: Vec::new(),
        }
    }

    fn table<'n>(&self, entry: &'n Entry, what: &str) -> Result<&'n [Entry], ConfigError> {
        entry.value.entries().ok_or_else(|| {
            self.sources.error(entry.value.span, format!("{what} must be a table, not {}", entry.value.describe()))
        })
    }

    fn base_file(&mut self, root: &Node) -> Result<(), ConfigError> {
        for section in root.entries().unwrap_or_default() {
            match section.key.as_str() {
                "stack" => self.stack_section(section)?,
                "variables" => {
                    for v in self.table(section, "[variables]")? {
                        if let Some((_, first)) = self.variables.get(&v.key) {
                            let first = self.sources.loc(*first);
                            return Err(self
                                .sources
                                .error(v.key_span, format!("variable `{}` is already declared at {first}", v.key)));
                        }
                        let var = Variable { value: v.value.to_value(), span: v.value.span };
                        self.variables.insert(v.key.clone(), (var, v.key_span));
                    }
                }
                "locals" => {
                    for l in self.table(section, "[locals]")? {
                        if let Some(first) = self.local_names.get(&l.key).and_then(|&i| self.locals.get(i)) {
                            let first = self.sources.loc(first.key_span);
                            return Err(self
                                .sources
                                .error(l.key_span, format!("local `{}` is already declared at {first}", l.key)));
                        }
                        self.local_names.insert(l.key.clone(), self.locals.len());
                        self.locals.push(l.clone());
                    }
                }
                "resource" => self.resource_section(section)?,
                "backend" => {
                    self.table(section, "[backend]")?;
                    if let Some(first) = &self.backend {
                        let first = self.sources.loc(first.value.span);
                        return Err(self
                            .sources
                            .error(section.value.span, format!("[backend] is already defined at {first}")));
                    }
                    self.backend = Some(section.clone());
                }
                "drift" => {
                    self.table(section, "[drift]")?;
                    if let Some(first) = &self.drift {
                        let first = self.sources.loc(first.value.span);
                        return Err(self
                            .sources
                            .error(section.value.span, format!("[drift] is already defined at {first}")));
                    }
                    self.drift = Some(section.clone());
                }
                "moved" => match &section.value.kind {
                    NodeKind::List(blocks) => self.moved.extend(blocks.iter().cloned()),
                    _ => {
                        return Err(self.sources.error(
                            section.value.span,
                            format!(
                                "`moved` must be written as [[moved]] blocks (a list of tables), not {}",
                                section.value.describe()
                            ),
                        ))
                    }
                },
                other => {
                    return Err(self.sources.error(
                        section.key_span,
                        format!(
                            "unknown section `{other}`; expected one of {}{}",
                            ticks(SECTIONS),
                            did_you_mean(other, SECTIONS)
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    fn stack_section(&mut self, section: &Entry) -> Result<(), ConfigError> {
        let entries = self.table(section, "[stack]")?;
        if let Some((_, first)) = &self.stack {
            let first = self.sources.loc(*first);
            return Err(self.sources.error(section.value.span, format!("[stack] is already defined at {first}")));
        }
        let mut name = None;
        for e in entries {
            match e.key.as_str() {
                "name" => match &e.value.kind {
                    NodeKind::Str { value, .. }
                        if !value.is_empty()
                            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                    {
                        name = Some(value.clone())
                    }
                    _ => {
                        return Err(self
                            .sources
                            .error(e.value.span, "stack name must be a plain string of letters, digits, `-` and `_`"))
                    }
                },
                "default_tags" => self.default_tags = Some(e.value.clone()),
                other => {
                    let keys = ["name", "default_tags"];
                    return Err(self.sources.error(
                        e.key_span,
                        format!(
                            "unknown key `{other}` in [stack]; expected {}{}",
                            ticks(keys),
                            did_you_mean(other, keys)
                        ),
                    ));
                }
            }
        }
        match name {
            Some(n) => self.stack = Some((n, section.value.span)),
            None => return Err(self.sources.error(section.value.span, "[stack] needs `name = \"...\"`")),
        }
        Ok(())
    }

    fn resource_section(&mut self, section: &Entry) -> Result<(), ConfigError> {
        for kind in self.table(section, "`resource`")? {
            if self.registry.get(&kind.key).is_none() {
                let names: Vec<&str> = self.registry.names().collect();
                return Err(self.sources.error_labelled(
                    kind.key_span,
                    "unknown kind",
                    format!(
                        "unknown resource kind `{}`{} (known kinds: {})",
                        kind.key,
                        did_you_mean(&kind.key, names.iter().copied()),
                        names.join(", ")
                    ),
                ));
            }
            for res in self.table(kind, &format!("`resource.{}`", kind.key))? {
                let attrs = self.table(res, &format!("`resource.{}.{}`", kind.key, res.key))?;
                if !res.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Err(self.sources.error(
                        res.key_span,
                        format!("resource name `{}` may only contain letters, digits, `-` and `_`", res.key),
                    ));
                }
                let id = (kind.key.clone(), res.key.clone());
                if let Some(first) = self.declared.get(&id).and_then(|&i| self.resources.get(i)) {
                    let first = self.sources.loc(first.loc);
                    return Err(self.sources.error(
                        res.value.span,
                        format!("duplicate resource `{}.{}`: already declared at {first}", kind.key, res.key),
                    ));
                }
                // A `[resource.KIND.NAME]` header, else (inline or dotted tables) the NAME key.
                let header = self.sources.text(res.value.span.file).get(res.value.span.start..);
                let loc = if header.is_some_and(|h| h.starts_with('[')) { res.value.span } else { res.key_span };
                let mut raw = RawResource {
                    kind: kind.key.clone(),
                    name: res.key.clone(),
                    loc,
                    for_each: None,
                    depends_on: None,
                    lifecycle: None,
                    attrs: Vec::new(),
                };
                for a in attrs {
                    match a.key.as_str() {
                        "for_each" => raw.for_each = Some(a.value.clone()),
                        "depends_on" => raw.depends_on = Some(a.value.clone()),
                        "lifecycle" => raw.lifecycle = Some(a.clone()),
                        _ => raw.attrs.push(a.clone()),
                    }
                }
                self.declared.insert(id, self.resources.len());
                self.resources.push(raw);
            }
        }
        Ok(())
    }

    fn overlay(&mut self, root: &Node) -> Result<(), ConfigError> {
        for section in root.entries().unwrap_or_default() {
            if section.key != "variables" {
                return Err(self.sources.error(
                    section.key_span,
                    format!("an environment overlay may only set [variables]; `{}` is not allowed here", section.key),
                ));
            }
            for v in self.table(section, "[variables]")? {
                let Some((declared, decl_span)) = self.variables.get_mut(&v.key) else {
                    return Err(self.sources.error(
                        v.key_span,
                        format!(
                            "unknown variable `{}` (not declared in the base plan files){}",
                            v.key,
                            did_you_mean(&v.key, self.variables.keys().map(String::as_str))
                        ),
                    ));
                };
                let value = v.value.to_value();
                let (want, got) = (type_name(&declared.value), type_name(&value));
                if want != got {
                    let decl = self.sources.loc(*decl_span);
                    return Err(self.sources.error(
                        v.value.span,
                        format!("variable `{}` is {want} (declared at {decl}), but this sets {got}", v.key),
                    ));
                }
                *declared = Variable { value, span: v.value.span };
            }
        }
        Ok(())
    }

    fn finish(self, first_file: usize) -> Result<RawPlan, ConfigError> {
        let at_start = Span::new(first_file, 0, 0);
        let Some((stack_name, _)) = self.stack else {
            return Err(self.sources.error(
                at_start,
                "no plan file defines the stack: add `[stack]` with `name = \"...\"` to one of them",
            ));
        };
        let region = match self.variables.get("region") {
            Some((Variable { value: Value::String(r), .. }, _)) if !r.is_empty() => r.clone(),
            Some((v, _)) => return Err(self.sources.error(v.span, "variable `region` must be a non-empty string")),
            None => {
                return Err(self
                    .sources
                    .error(at_start, "missing variable `region` (the AWS region): declare it in [variables]"))
            }
        };
        let mut resources = self.resources;
        // toml_edit groups tables by kind; declaration order is the position in the file.
        resources.sort_by_key(|r| (r.loc.file, r.loc.start));
        Ok(RawPlan {
            stack_name,
            default_tags: self.default_tags,
            variables: self.variables.into_iter().map(|(k, (v, _))| (k, v)).collect(),
            locals: self.locals,
            resources,
            region,
            backend: self.backend,
            drift: self.drift,
            moved: self.moved,
        })
    }
}

/// The type of a variable's value, for checking overlays against defaults.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Number(n) if n.is_f64() => "a float",
        other => super::funcs::describe(other),
    }
}
