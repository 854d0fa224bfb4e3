//! Evaluation of values and `${...}` expressions into [`Tmpl`]s.
//!
//! Variables, locals, `each.*`, `stack.*`, literals, conditionals and functions are computed
//! now; references to other resources' attributes stay symbolic as [`Tmpl::Ref`]. A `Tmpl`
//! with no reference in it is always collapsed into [`Tmpl::Lit`], so "is this known now?" is
//! simply "is this a `Lit`?". Wherever a value must be known now (function arguments,
//! conditions, `==`, index keys, `for_each`), a reference is a located error.
//!
//! Locals and the instance keys of repeated resources are computed lazily and memoized, so they
//! may refer to each other in any order; a local that needs itself is reported as a cycle.

use std::collections::BTreeMap;

use super::diag::{did_you_mean, ticks, ConfigError, Sources, Span};
use super::expr::{parse_template, Expr, ExprKind, Piece, Rel};
use super::funcs;
use super::load::RawPlan;
use super::model::Tmpl;
use super::node::{Node, NodeKind};
use crate::resource::{Address, Registry, Value};

/// The instances of a repeated resource: `each.key` → `each.value`, sorted by key.
pub(crate) type Instances = BTreeMap<String, Value>;

enum Memo<T> {
    /// Being computed: meeting it again means a cycle.
    Busy,
    Done(T),
}

/// Where a value is being evaluated; decides what `each` means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Place {
    /// Locals and `default_tags`.
    Stack,
    /// A resource's `for_each`.
    ForEach,
    /// A resource's attributes and `depends_on`.
    Resource,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'s> {
    pub place: Place,
    /// `(each.key, each.value)` for an instance of a repeated resource.
    pub each: Option<(&'s str, &'s Value)>,
}

impl Scope<'_> {
    pub fn stack() -> Self {
        Scope { place: Place::Stack, each: None }
    }
}

/// Maps positions inside a string value back to the file.
#[derive(Debug, Clone, Copy)]
struct Origin {
    /// Where the string's decoded text starts in the file, if it maps 1:1.
    base: Option<usize>,
    /// The whole string value.
    whole: Span,
}

impl Origin {
    fn span(&self, r: Rel) -> Span {
        match self.base {
            Some(b) => Span::new(self.whole.file, b + r.start, b + r.end),
            None => self.whole,
        }
    }
}

/// One step of an access chain such as `ec2_subnet.public[each.key].id`.
enum Step<'e> {
    Field(&'e str, Rel),
    /// The index expression, and the whole `x[...]`.
    Index(&'e Expr, Rel),
    Splat(Rel),
}

const ROOTS: [&str; 4] = ["var", "local", "each", "stack"];

/// How deep evaluation may recurse (see [`Evaluator::deeper`]), in units of one value or
/// expression. `config::load` runs on a 64 MiB stack; the deepest allowed recursion uses about
/// a sixth of it in a debug build (`tests::errors::long_chains_*` and `deeply_nested_*` check
/// the worst shapes). Real plans stay far below.
pub(crate) const MAX_EVAL_DEPTH: usize = 1024;

/// The extra cost of following a reference into a local or another resource's `for_each`:
/// those paths go through many large stack frames, so at most about 150 hops are followed.
const HOP_COST: usize = 4;

pub(crate) struct Evaluator<'a> {
    src: &'a Sources,
    registry: &'a Registry,
    plan: &'a RawPlan,
    env: &'a str,
    /// (kind, name) → index in `plan.resources`.
    index: BTreeMap<(&'a str, &'a str), usize>,
    locals: BTreeMap<String, Memo<Tmpl>>,
    /// Locals being evaluated, outermost first (for cycle messages).
    local_chain: Vec<String>,
    instances: BTreeMap<usize, Memo<Option<Instances>>>,
    /// Local name → index in `plan.locals` (a linear search made long chains quadratic).
    local_index: BTreeMap<&'a str, usize>,
    /// Current recursion depth, bounded by [`MAX_EVAL_DEPTH`].
    depth: usize,
}

impl<'a> Evaluator<'a> {
    pub fn new(src: &'a Sources, registry: &'a Registry, plan: &'a RawPlan, env: &'a str) -> Self {
        let index = plan.resources.iter().enumerate().map(|(i, r)| ((r.kind.as_str(), r.name.as_str()), i)).collect();
        let local_index = plan.locals.iter().enumerate().map(|(i, l)| (l.key.as_str(), i)).collect();
        Evaluator {
            src,
            registry,
            plan,
            env,
            index,
            locals: BTreeMap::new(),
            local_chain: Vec::new(),
            instances: BTreeMap::new(),
            local_index,
            depth: 0,
        }
    }

    fn err(&self, span: Span, message: impl Into<String>) -> ConfigError {
        self.src.error(span, message)
    }

    /// Evaluate every local, so that mistakes in unused ones are reported too.
    pub fn check_locals(&mut self) -> Result<(), ConfigError> {
        let plan = self.plan;
        for l in &plan.locals {
            self.local(&l.key, l.key_span)?;
        }
        Ok(())
    }

    /// Run `f` one level deeper. Evaluation recurses through nested values, expressions, and
    /// into the locals and `for_each`s it refers to; a long chain of those (found by fuzzing: a
    /// few thousand locals each naming the next) overflowed the stack, so depth is bounded.
    fn deeper<T>(
        &mut self,
        span: Span,
        cost: usize,
        f: impl FnOnce(&mut Self) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        if self.depth + cost > MAX_EVAL_DEPTH {
            let chain = match self.local_chain.first() {
                Some(first) => format!(" (starting from local `{first}`)"),
                None => String::new(),
            };
            return Err(self.err(
                span,
                format!(
                    "evaluation nested too deeply{chain}: more than {MAX_EVAL_DEPTH} levels of values, expressions, \
                     locals and for_each referring to each other"
                ),
            ));
        }
        self.depth += cost;
        let r = f(self);
        self.depth -= cost;
        r
    }

    /// Evaluate a plan value.
    pub fn eval_node(&mut self, node: &Node, scope: Scope) -> Result<Tmpl, ConfigError> {
        self.deeper(node.span, 1, |ev| ev.eval_node_inner(node, scope))
    }

    fn eval_node_inner(&mut self, node: &Node, scope: Scope) -> Result<Tmpl, ConfigError> {
        Ok(match &node.kind {
            NodeKind::Str { value, content } => {
                return self.eval_string(value, Origin { base: *content, whole: node.span }, scope)
            }
            NodeKind::List(items) => {
                list(items.iter().map(|n| self.eval_node(n, scope)).collect::<Result<Vec<_>, _>>()?)
            }
            NodeKind::Table(entries) => {
                let mut m = BTreeMap::new();
                for e in entries {
                    let key = self.eval_key(&e.key, e.key_span, scope)?;
                    if m.contains_key(&key) {
                        return Err(self.err(e.key_span, format!("the key `{key}` is in this table twice")));
                    }
                    m.insert(key, self.eval_node(&e.value, scope)?);
                }
                map(m)
            }
            _ => Tmpl::Lit(node.to_value()),
        })
    }

    /// A table key: `${...}` in it is evaluated like in a string value
    /// (`"k8s.io/cluster-autoscaler/${local.cluster_name}" = "owned"`). A key must be a string
    /// known now: a reference to a resource attribute is refused (the key of a tag, a label
    /// or a table entry cannot wait until apply).
    fn eval_key(&mut self, key: &str, span: Span, scope: Scope) -> Result<String, ConfigError> {
        if !key.contains("${") {
            return Ok(key.to_string());
        }
        // The key's span includes its quotes; positions inside it are not mapped.
        let t = self.eval_string(key, Origin { base: None, whole: span }, scope)?;
        match self.known(t, span, "a table key")? {
            Value::String(k) => Ok(k),
            v @ (Value::Number(_) | Value::Bool(_)) => Ok(v.to_string()),
            other => Err(self.err(span, format!("a table key must be a string, got {}", funcs::describe(&other)))),
        }
    }

    /// `t` as a plain value, or an error saying that `what` must be known before apply.
    pub fn known(&self, t: Tmpl, span: Span, what: &str) -> Result<Value, ConfigError> {
        match t {
            Tmpl::Lit(v) => Ok(v),
            other => {
                let used = other.refs().first().map_or_else(String::new, |(a, attr)| format!("{a}.{attr}"));
                Err(self.err(
                    span,
                    format!("{what} must be known before apply, but it uses `{used}`, which is known only after apply"),
                ))
            }
        }
    }

    fn eval_string(&mut self, s: &str, o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        let pieces = parse_template(s).map_err(|e| self.err(o.span(e.at), e.message))?;
        if let [Piece::Expr(e)] = pieces.as_slice() {
            // `"${expr}"` alone keeps the expression's type (list, table, bool, int, reference).
            return self.eval(e, o, scope);
        }
        let mut parts = Vec::new();
        for p in &pieces {
            match p {
                Piece::Text(t) => parts.push(Tmpl::Lit(Value::String(t.clone()))),
                Piece::Expr(e) => match self.eval(e, o, scope)? {
                    Tmpl::Lit(Value::String(x)) => parts.push(Tmpl::Lit(Value::String(x))),
                    Tmpl::Lit(v @ (Value::Number(_) | Value::Bool(_))) => {
                        parts.push(Tmpl::Lit(Value::String(v.to_string())))
                    }
                    Tmpl::Lit(Value::Null) => {}
                    r @ Tmpl::Ref { .. } => parts.push(r),
                    Tmpl::Concat(inner) => parts.extend(inner),
                    other => {
                        return Err(self.err(
                            o.span(e.at),
                            format!(
                                "cannot put {} into a string; write \"${{...}}\" alone to pass it as a value",
                                describe(&other)
                            ),
                        ))
                    }
                },
            }
        }
        Ok(concat(parts))
    }

    fn eval(&mut self, e: &Expr, o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        self.deeper(o.span(e.at), 1, |ev| ev.eval_inner(e, o, scope))
    }

    fn eval_inner(&mut self, e: &Expr, o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        match &e.kind {
            ExprKind::Str(s) => Ok(Tmpl::Lit(Value::String(s.clone()))),
            ExprKind::Int(i) => Ok(Tmpl::Lit(Value::from(*i))),
            ExprKind::Bool(b) => Ok(Tmpl::Lit(Value::Bool(*b))),
            ExprKind::List(items) => {
                Ok(list(items.iter().map(|i| self.eval(i, o, scope)).collect::<Result<Vec<_>, _>>()?))
            }
            ExprKind::Name(_) | ExprKind::Field(..) | ExprKind::Index(..) | ExprKind::Splat(_) => {
                self.access(e, o, scope)
            }
            ExprKind::Call(name, args) => self.call(e.at, name, args, o, scope),
            ExprKind::Compare { eq, lhs, rhs } => {
                let a = self.eval(lhs, o, scope)?;
                let a = self.known(a, o.span(lhs.at), "a comparison")?;
                let b = self.eval(rhs, o, scope)?;
                let b = self.known(b, o.span(rhs.at), "a comparison")?;
                Ok(Tmpl::Lit(Value::Bool((a == b) == *eq)))
            }
            ExprKind::Cond(c, yes, no) => {
                let cond = self.eval(c, o, scope)?;
                match self.known(cond, o.span(c.at), "a condition")? {
                    // Only the chosen branch is evaluated: the other may name instances that do
                    // not exist in this environment (e.g. per-AZ NAT gateways in single mode).
                    Value::Bool(true) => self.eval(yes, o, scope),
                    Value::Bool(false) => self.eval(no, o, scope),
                    v => {
                        Err(self
                            .err(o.span(c.at), format!("a condition must be a boolean, got {}", funcs::describe(&v))))
                    }
                }
            }
        }
    }

    fn call(&mut self, at: Rel, name: &str, args: &[Expr], o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        let Some((min, max)) = funcs::arity(name) else {
            return Err(self.err(
                o.span(at),
                format!(
                    "unknown function `{name}`{} (functions: {})",
                    did_you_mean(name, funcs::names()),
                    funcs::names().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if args.len() < min || args.len() > max {
            let want = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            let plural = if want == "1" { "" } else { "s" };
            return Err(self.err(o.span(at), format!("{name}() takes {want} argument{plural}, got {}", args.len())));
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            let t = self.eval(a, o, scope)?;
            values.push(self.known(t, o.span(a.at), &format!("an argument of {name}()"))?);
        }
        funcs::call(name, &values).map(Tmpl::Lit).map_err(|fe| {
            let r = fe.arg.and_then(|i| args.get(i)).map_or(at, |a| a.at);
            self.err(o.span(r), format!("{name}(): {}", fe.message))
        })
    }

    /// A chain of `.field`, `[index]` and `[*]` on a name or a value.
    fn access(&mut self, e: &Expr, o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        let mut steps = Vec::new();
        let root = flatten(e, &mut steps);
        let (mut value, used) = match &root.kind {
            ExprKind::Name(name) => self.named(name, root.at, &steps, o, scope)?,
            _ => (self.eval(root, o, scope)?, 0),
        };
        for step in steps.iter().skip(used) {
            value = self.step(value, step, o, scope)?;
        }
        Ok(value)
    }

    /// Resolve `var.X`, `local.X`, `each.*`, `stack.*` or a resource reference; returns the
    /// value and how many steps it consumed.
    fn named(
        &mut self,
        name: &str,
        at: Rel,
        steps: &[Step],
        o: Origin,
        scope: Scope,
    ) -> Result<(Tmpl, usize), ConfigError> {
        let field = |usage: &str| match steps.first() {
            Some(Step::Field(f, r)) => Ok((*f, *r)),
            _ => Err(self.err(o.span(at), format!("expected {usage}"))),
        };
        match name {
            "var" => {
                let (n, r) = field("`var.NAME`")?;
                match self.plan.variables.get(n) {
                    Some(v) => Ok((Tmpl::Lit(v.value.clone()), 1)),
                    None => Err(self.err(
                        o.span(r),
                        format!(
                            "unknown variable `{n}`{}",
                            did_you_mean(n, self.plan.variables.keys().map(String::as_str))
                        ),
                    )),
                }
            }
            "local" => {
                let (n, r) = field("`local.NAME`")?;
                Ok((self.local(n, o.span(r))?, 1))
            }
            "each" => {
                let (n, r) = field("`each.key` or `each.value`")?;
                let Some((key, value)) = scope.each else {
                    let why = match scope.place {
                        Place::ForEach => "`each` is not available in for_each itself",
                        Place::Stack => "`each` is only available in a resource with for_each",
                        Place::Resource => {
                            "`each` is only available in a resource with for_each, and this one has none"
                        }
                    };
                    return Err(self.err(o.span(at), why));
                };
                match n {
                    "key" => Ok((Tmpl::Lit(Value::String(key.to_string())), 1)),
                    "value" => Ok((Tmpl::Lit(value.clone()), 1)),
                    _ => Err(self.err(o.span(r), format!("`each` has only `key` and `value`, not `{n}`"))),
                }
            }
            "stack" => {
                let (n, r) = field("`stack.name` or `stack.env`")?;
                match n {
                    "name" => Ok((Tmpl::Lit(Value::String(self.plan.stack_name.clone())), 1)),
                    "env" => Ok((Tmpl::Lit(Value::String(self.env.to_string())), 1)),
                    _ => Err(self.err(o.span(r), format!("`stack` has only `name` and `env`, not `{n}`"))),
                }
            }
            kind if self.registry.get(kind).is_some() => self.reference(kind, at, steps, o, scope),
            other => {
                let kinds: Vec<&str> = self.registry.names().collect();
                Err(self.err(
                    o.span(at),
                    format!(
                        "unknown name `{other}`{}; expected var.NAME, local.NAME, each.key, each.value, stack.name, \
                         stack.env, a function call or a resource reference KIND.NAME.ATTR",
                        did_you_mean(other, ROOTS.iter().copied().chain(kinds.iter().copied()))
                    ),
                ))
            }
        }
    }

    /// `KIND.NAME.ATTR`, `KIND.NAME[KEY].ATTR` or `KIND.NAME[*].ATTR`.
    fn reference(
        &mut self,
        kind: &str,
        at: Rel,
        steps: &[Step],
        o: Origin,
        scope: Scope,
    ) -> Result<(Tmpl, usize), ConfigError> {
        let Some(Step::Field(name, name_at)) = steps.first() else {
            return Err(self.err(o.span(at), format!("expected a resource reference `{kind}.NAME.ATTR`")));
        };
        let whole = |upto: Rel| Rel { start: at.start, end: upto.end };
        let Some(idx) = self.index.get(&(kind, *name)).copied() else {
            let names: Vec<&str> =
                self.plan.resources.iter().filter(|r| r.kind == kind).map(|r| r.name.as_str()).collect();
            return Err(self.err(
                o.span(whole(*name_at)),
                format!("no resource `{kind}.{name}` is declared{}", did_you_mean(name, names)),
            ));
        };
        self.ensure_instances(idx)?;
        let repeated = matches!(self.instances.get(&idx), Some(Memo::Done(Some(_))));
        let addr = |key: Option<String>| Address::new(kind, *name, key);
        // Which instances, and where the attribute name is expected.
        let (targets, attr_step) = match steps.get(1) {
            Some(Step::Index(key_expr, r)) => {
                if !repeated {
                    return Err(self.err(
                        o.span(whole(*r)),
                        format!("`{kind}.{name}` has no for_each, so it takes no [key]: use `{kind}.{name}.ATTR`"),
                    ));
                }
                let key = self.eval(key_expr, o, scope)?;
                let key = match self.known(key, o.span(key_expr.at), "an instance key")? {
                    Value::String(k) => k,
                    v => {
                        return Err(self.err(
                            o.span(key_expr.at),
                            format!("instance keys are strings, got {}", funcs::describe(&v)),
                        ))
                    }
                };
                let keys = self.instance_keys(idx);
                if !keys.contains(&key) {
                    return Err(self.err(
                        o.span(key_expr.at),
                        format!(
                            "`{kind}.{name}` has no instance [\"{key}\"] (keys: {})",
                            ticks(keys.iter().map(String::as_str))
                        ),
                    ));
                }
                (vec![addr(Some(key))], 2)
            }
            Some(Step::Splat(r)) => {
                if !repeated {
                    return Err(self.err(
                        o.span(whole(*r)),
                        format!("`{kind}.{name}` has no for_each, so [*] does not apply: use `{kind}.{name}.ATTR`"),
                    ));
                }
                (self.instance_keys(idx).into_iter().map(|k| addr(Some(k))).collect(), 2)
            }
            _ => {
                if repeated {
                    return Err(self.err(
                        o.span(whole(*name_at)),
                        format!(
                            "`{kind}.{name}` is repeated (for_each): use `{kind}.{name}[KEY].ATTR` or `{kind}.{name}[*].ATTR`"
                        ),
                    ));
                }
                (vec![addr(None)], 1)
            }
        };
        let Some(Step::Field(attr, attr_at)) = steps.get(attr_step) else {
            return Err(
                self.err(o.span(at), format!("a resource reference needs an attribute, e.g. `{kind}.{name}.id`"))
            );
        };
        let schema = self.registry.schema(kind);
        if !schema.is_some_and(|s| s.has_output(attr)) {
            let outputs: Vec<&str> =
                std::iter::once("id").chain(schema.into_iter().flat_map(|s| s.attrs.iter().map(|a| a.name))).collect();
            return Err(
                self.err(o.span(*attr_at), format!("{kind} has no attribute `{attr}`{}", did_you_mean(attr, outputs)))
            );
        }
        if let Some(extra) = steps.get(attr_step + 1) {
            let r = match extra {
                Step::Field(_, r) | Step::Index(_, r) | Step::Splat(r) => *r,
            };
            return Err(self.err(
                o.span(r),
                format!("cannot look inside `{kind}.{name}...{attr}`: its value is known only after apply"),
            ));
        }
        let refs: Vec<Tmpl> = targets.into_iter().map(|target| Tmpl::Ref { target, attr: attr.to_string() }).collect();
        let value = if matches!(steps.get(1), Some(Step::Splat(_))) {
            list(refs)
        } else {
            refs.into_iter().next().unwrap_or(Tmpl::Lit(Value::Null))
        };
        Ok((value, attr_step + 1))
    }

    /// A generic `.field`, `[index]` or `[*]` on a value.
    fn step(&mut self, value: Tmpl, step: &Step, o: Origin, scope: Scope) -> Result<Tmpl, ConfigError> {
        match step {
            Step::Field(f, r) => match &value {
                Tmpl::Lit(Value::Object(m)) => match m.get(*f) {
                    Some(v) => Ok(Tmpl::Lit(v.clone())),
                    None => Err(self.no_key(*r, f, m.keys().map(String::as_str), o)),
                },
                Tmpl::Map(m) => match m.get(*f) {
                    Some(v) => Ok(v.clone()),
                    None => Err(self.no_key(*r, f, m.keys().map(String::as_str), o)),
                },
                other => Err(self.err(o.span(*r), format!("cannot read `.{f}` from {}", describe(other)))),
            },
            Step::Index(ie, r) => {
                let key = self.eval(ie, o, scope)?;
                let key = self.known(key, o.span(ie.at), "an index")?;
                let found = match (&value, &key) {
                    (Tmpl::Lit(Value::Array(a)), Value::Number(n)) => {
                        n.as_u64().and_then(|i| a.get(usize::try_from(i).ok()?)).cloned().map(Tmpl::Lit)
                    }
                    (Tmpl::List(a), Value::Number(n)) => {
                        n.as_u64().and_then(|i| a.get(usize::try_from(i).ok()?)).cloned()
                    }
                    (Tmpl::Lit(Value::Object(m)), Value::String(k)) => {
                        return m
                            .get(k)
                            .cloned()
                            .map(Tmpl::Lit)
                            .ok_or_else(|| self.no_key(ie.at, k, m.keys().map(String::as_str), o))
                    }
                    (Tmpl::Map(m), Value::String(k)) => {
                        return m.get(k).cloned().ok_or_else(|| self.no_key(ie.at, k, m.keys().map(String::as_str), o))
                    }
                    (v, k) => {
                        return Err(
                            self.err(o.span(*r), format!("cannot index {} with {}", describe(v), funcs::describe(k)))
                        )
                    }
                };
                let len = match &value {
                    Tmpl::Lit(Value::Array(a)) => a.len(),
                    Tmpl::List(a) => a.len(),
                    _ => 0,
                };
                found.ok_or_else(|| self.err(o.span(ie.at), format!("index {key} is out of range (length {len})")))
            }
            Step::Splat(r) => Err(self.err(o.span(*r), "[*] applies only to a repeated resource: `KIND.NAME[*].ATTR`")),
        }
    }

    fn no_key<'k>(&self, at: Rel, key: &str, keys: impl Iterator<Item = &'k str>, o: Origin) -> ConfigError {
        let keys: Vec<&str> = keys.collect();
        self.err(o.span(at), format!("no key `{key}` in this table (keys: {})", ticks(keys)))
    }

    /// The value of `local.NAME`, computed once.
    pub fn local(&mut self, name: &str, at: Span) -> Result<Tmpl, ConfigError> {
        match self.locals.get(name) {
            Some(Memo::Done(t)) => return Ok(t.clone()),
            Some(Memo::Busy) => {
                let start = self.local_chain.iter().position(|l| l == name).unwrap_or(0);
                let mut cycle: Vec<&str> = self.local_chain[start..].iter().map(String::as_str).collect();
                cycle.push(name);
                return Err(self.err(at, format!("cycle in locals: {}", cycle.join(" → "))));
            }
            None => {}
        }
        let plan = self.plan;
        let Some(entry) = self.local_index.get(name).and_then(|&i| plan.locals.get(i)) else {
            return Err(self.err(
                at,
                format!("unknown local `{name}`{}", did_you_mean(name, plan.locals.iter().map(|l| l.key.as_str()))),
            ));
        };
        self.locals.insert(name.to_string(), Memo::Busy);
        self.local_chain.push(name.to_string());
        let t = self.deeper(at, HOP_COST, |ev| ev.eval_node(&entry.value, Scope::stack()))?;
        self.local_chain.pop();
        self.locals.insert(name.to_string(), Memo::Done(t.clone()));
        Ok(t)
    }

    /// The instances of `plan.resources[idx]`: `None` when it has no `for_each`.
    pub fn instances(&mut self, idx: usize) -> Result<Option<Instances>, ConfigError> {
        self.ensure_instances(idx)?;
        Ok(match self.instances.get(&idx) {
            Some(Memo::Done(i)) => i.clone(),
            _ => None,
        })
    }

    fn instance_keys(&self, idx: usize) -> Vec<String> {
        match self.instances.get(&idx) {
            Some(Memo::Done(Some(i))) => i.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn ensure_instances(&mut self, idx: usize) -> Result<(), ConfigError> {
        let plan = self.plan;
        let Some(res) = plan.resources.get(idx) else {
            return Ok(());
        };
        let Some(fe) = &res.for_each else {
            self.instances.insert(idx, Memo::Done(None));
            return Ok(());
        };
        match self.instances.get(&idx) {
            Some(Memo::Done(_)) => return Ok(()),
            Some(Memo::Busy) => {
                return Err(self.err(fe.span, format!("for_each of `{}.{}` depends on itself", res.kind, res.name)))
            }
            None => {}
        }
        self.instances.insert(idx, Memo::Busy);
        let t = self.deeper(fe.span, HOP_COST, |ev| ev.eval_node(fe, Scope { place: Place::ForEach, each: None }))?;
        let inst: Instances = match self.known(t, fe.span, "for_each")? {
            Value::Array(items) => {
                let mut inst = Instances::new();
                for item in items {
                    let Value::String(k) = item else {
                        return Err(self.err(
                            fe.span,
                            format!(
                                "for_each over a list needs strings, but the list holds {}",
                                funcs::describe(&item)
                            ),
                        ));
                    };
                    if inst.insert(k.clone(), Value::String(k.clone())).is_some() {
                        return Err(self.err(fe.span, format!("for_each lists `{k}` twice; keys must be unique")));
                    }
                }
                inst
            }
            Value::Object(m) => m.into_iter().collect(),
            v => {
                return Err(self.err(
                    fe.span,
                    format!("for_each must be a list of strings or a table, got {}", funcs::describe(&v)),
                ))
            }
        };
        self.instances.insert(idx, Memo::Done(Some(inst)));
        Ok(())
    }

    /// A resource's `depends_on`: a list of address strings; a repeated resource named without
    /// a key stands for all its instances.
    pub fn depends_on(&mut self, node: &Node, scope: Scope) -> Result<Vec<Address>, ConfigError> {
        let NodeKind::List(items) = &node.kind else {
            return Err(self
                .err(node.span, format!("depends_on must be a list of resource addresses, not {}", node.describe())));
        };
        let mut out: Vec<Address> = Vec::new();
        for item in items {
            let t = self.eval_node(item, scope)?;
            let Value::String(s) = self.known(t, item.span, "depends_on")? else {
                return Err(self.err(item.span, "depends_on entries are address strings like \"ec2_vpc.main\""));
            };
            let addr: Address = s.parse().map_err(|_| {
                self.err(
                    item.span,
                    format!("`{s}` is not a resource address: expected kind.name or kind.name[\"key\"]"),
                )
            })?;
            let Some(idx) = self.index.get(&(addr.kind.as_str(), addr.name.as_str())).copied() else {
                let names: Vec<String> = self.plan.resources.iter().map(|r| format!("{}.{}", r.kind, r.name)).collect();
                let wanted = format!("{}.{}", addr.kind, addr.name);
                return Err(self.err(
                    item.span,
                    format!(
                        "depends_on names `{wanted}`, which is not declared{}",
                        did_you_mean(&wanted, names.iter().map(String::as_str))
                    ),
                ));
            };
            self.ensure_instances(idx)?;
            let repeated = matches!(self.instances.get(&idx), Some(Memo::Done(Some(_))));
            let keys = self.instance_keys(idx);
            match (&addr.key, repeated) {
                (None, false) => out.push(addr),
                (None, true) => out.extend(keys.into_iter().map(|k| Address::new(&addr.kind, &addr.name, Some(k)))),
                (Some(_), false) => {
                    return Err(self.err(
                        item.span,
                        format!("`{}.{}` has no for_each, so it takes no [key]", addr.kind, addr.name),
                    ))
                }
                (Some(k), true) if keys.contains(k) => out.push(addr),
                (Some(k), true) => {
                    return Err(self.err(
                        item.span,
                        format!(
                            "`{}.{}` has no instance [\"{k}\"] (keys: {})",
                            addr.kind,
                            addr.name,
                            ticks(keys.iter().map(String::as_str))
                        ),
                    ))
                }
            }
        }
        // Keep the first mention of each address, in the order written.
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|a| seen.insert(a.clone()));
        Ok(out)
    }
}

/// Unwind `a.b[c].d` into its root `a` and the steps `.b`, `[c]`, `.d`.
fn flatten<'e>(e: &'e Expr, steps: &mut Vec<Step<'e>>) -> &'e Expr {
    match &e.kind {
        ExprKind::Field(base, name, r) => {
            let root = flatten(base, steps);
            steps.push(Step::Field(name, *r));
            root
        }
        ExprKind::Index(base, idx) => {
            let root = flatten(base, steps);
            steps.push(Step::Index(idx, e.at));
            root
        }
        ExprKind::Splat(base) => {
            let root = flatten(base, steps);
            steps.push(Step::Splat(e.at));
            root
        }
        _ => e,
    }
}

/// What a value is, for messages.
pub(crate) fn describe(t: &Tmpl) -> &'static str {
    match t {
        Tmpl::Lit(v) => funcs::describe(v),
        Tmpl::List(_) => "a list",
        Tmpl::Map(_) => "a table",
        Tmpl::Ref { .. } | Tmpl::Concat(_) => "a value known only after apply",
    }
}

/// A list, collapsed into a literal when every item is known.
pub(crate) fn list(items: Vec<Tmpl>) -> Tmpl {
    if items.iter().all(|t| matches!(t, Tmpl::Lit(_))) {
        Tmpl::Lit(Value::Array(items.into_iter().filter_map(lit).collect()))
    } else {
        Tmpl::List(items)
    }
}

/// A table, collapsed into a literal (with sorted keys) when every value is known.
pub(crate) fn map(entries: BTreeMap<String, Tmpl>) -> Tmpl {
    if entries.values().all(|t| matches!(t, Tmpl::Lit(_))) {
        Tmpl::Lit(Value::Object(entries.into_iter().filter_map(|(k, t)| Some((k, lit(t)?))).collect()))
    } else {
        Tmpl::Map(entries)
    }
}

/// The entries of a table value, known or not.
pub(crate) fn entries(t: &Tmpl) -> Option<BTreeMap<String, Tmpl>> {
    match t {
        Tmpl::Lit(Value::Object(m)) => Some(m.iter().map(|(k, v)| (k.clone(), Tmpl::Lit(v.clone()))).collect()),
        Tmpl::Map(m) => Some(m.clone()),
        _ => None,
    }
}

fn lit(t: Tmpl) -> Option<Value> {
    match t {
        Tmpl::Lit(v) => Some(v),
        _ => None,
    }
}

/// String pieces, with adjacent literals joined; a plain string when nothing is a reference.
fn concat(parts: Vec<Tmpl>) -> Tmpl {
    let mut out: Vec<Tmpl> = Vec::new();
    for p in parts {
        match (out.last_mut(), p) {
            (Some(Tmpl::Lit(Value::String(prev))), Tmpl::Lit(Value::String(s))) => prev.push_str(&s),
            (_, p) => out.push(p),
        }
    }
    match out.len() {
        0 => Tmpl::Lit(Value::String(String::new())),
        1 if matches!(out[0], Tmpl::Lit(_)) => out.remove(0),
        _ => Tmpl::Concat(out),
    }
}
