//! Attribute schemas: the single source of truth for validation (config), diff (plan) and
//! redaction (state, output).
//!
//! Beyond its type, an attribute may carry [`Constraint`]s: allowed values, integer ranges,
//! CIDR blocks, ARNs, name rules, or a kind's own check of a structured value (a policy
//! document, a listener action). They are declared once, here, and checked in one place,
//! [`AttrSchema::check`]: by the config layer on every value known when the plans are loaded
//! (`kprov validate`, `kprov plan`: each violation at the attribute's `file:line:col`), and by
//! the engine on the resolved values just before a create or update, for values known only
//! after apply (a reference to a resource not created yet).

use std::net::Ipv4Addr;

use super::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum AttrType {
    String,
    Bool,
    Int,
    /// A list of strings.
    StringList,
    /// A map of string to string (tags, labels).
    StringMap,
    /// Any JSON value (documents such as policies, nested blocks).
    Any,
}

impl AttrType {
    /// Does `v` have this type?
    pub fn accepts(&self, v: &Value) -> bool {
        match self {
            AttrType::String => v.is_string(),
            AttrType::Bool => v.is_boolean(),
            AttrType::Int => v.is_i64() || v.is_u64(),
            AttrType::StringList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            AttrType::StringMap => v.as_object().is_some_and(|m| m.values().all(Value::is_string)),
            AttrType::Any => true,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::Bool => "a boolean",
            AttrType::Int => "an integer",
            AttrType::StringList => "a list of strings",
            AttrType::StringMap => "a table of strings",
            AttrType::Any => "any value",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AttrSchema {
    pub name: &'static str,
    pub ty: AttrType,
    /// Must be set in the plan.
    pub required: bool,
    /// Set by AWS, never by the plan (ids, ARNs, assigned addresses). Not diffed.
    pub computed: bool,
    /// A change cannot be applied in place: the resource is replaced.
    pub force_new: bool,
    /// Never shown in plan output or logs, never written to state in clear.
    pub sensitive: bool,
    /// A list whose order means nothing (AWS may return it in another order than it was
    /// given): the diff compares it as a set.
    pub unordered: bool,
    /// Value assumed when the plan does not set the attribute. Without a default, an unset
    /// optional attribute is not managed (whatever AWS has is accepted).
    pub default: Option<Value>,
    /// The canonical form of a value, when several spellings mean the same to AWS (a policy
    /// document as a table or as JSON text, in any key order; a list with set semantics). The
    /// diff compares `normalize(desired)` with what the kind reads back, which the kind puts
    /// in the same form.
    pub normalize: Option<fn(&Value) -> Value>,
    /// This attribute names the resource this one lives in (an add-on's cluster, a route's
    /// table): AWS deletes it with that parent, or refuses to delete the parent while it
    /// exists. Replacing the parent therefore replaces this resource, even when the
    /// attribute's value (a cluster name) stays the same. See `plan::diff`.
    pub parent: bool,
    /// Rules a value must follow beyond its type (see [`Constraint`]).
    pub constraints: Vec<Constraint>,
    pub doc: &'static str,
}

impl AttrSchema {
    fn base(name: &'static str, ty: AttrType) -> Self {
        AttrSchema {
            name,
            ty,
            required: false,
            computed: false,
            force_new: false,
            sensitive: false,
            unordered: false,
            default: None,
            normalize: None,
            parent: false,
            constraints: Vec::new(),
            doc: "",
        }
    }
    /// A required input.
    pub fn required(name: &'static str, ty: AttrType) -> Self {
        AttrSchema { required: true, ..Self::base(name, ty) }
    }
    /// An optional input.
    pub fn optional(name: &'static str, ty: AttrType) -> Self {
        Self::base(name, ty)
    }
    /// An attribute AWS assigns.
    pub fn computed(name: &'static str, ty: AttrType) -> Self {
        AttrSchema { computed: true, ..Self::base(name, ty) }
    }
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }
    pub fn default(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }
    pub fn normalize(mut self, f: fn(&Value) -> Value) -> Self {
        self.normalize = Some(f);
        self
    }
    /// Mark this attribute as naming the parent (see [`AttrSchema::parent`]).
    pub fn parent(mut self) -> Self {
        self.parent = true;
        self
    }
    /// `v` in canonical form (see [`AttrSchema::normalize`]).
    pub fn canonical(&self, v: &Value) -> Value {
        self.normalize.map_or_else(|| v.clone(), |f| f(v))
    }
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }
    /// Add a rule the value must follow.
    pub fn constraint(mut self, c: Constraint) -> Self {
        self.constraints.push(c);
        self
    }
    /// Shorthand for [`Constraint::OneOf`].
    pub fn one_of(self, allowed: &'static [&'static str]) -> Self {
        self.constraint(Constraint::OneOf(allowed))
    }
    /// Shorthand for [`Constraint::Range`].
    pub fn range(self, min: i64, max: i64) -> Self {
        self.constraint(Constraint::Range { min, max })
    }

    /// Every violation of the attribute's constraints by `v` (a value of the right type; a
    /// value of another type is the type check's business and passes here). Each message
    /// names the attribute (and the element, for a nested value) and what is allowed.
    /// `region` is the stack's (for [`Constraint::Zone`]; `None`: not known).
    pub fn check(&self, v: &Value, region: Option<&str>) -> Vec<Violation> {
        self.constraints.iter().flat_map(|c| c.check(v, region)).map(|viol| self.name_violation(viol)).collect()
    }

    /// A violation of one of this attribute's constraints, its message prefixed with the
    /// attribute's name and the nested value's path.
    pub fn name_violation(&self, mut viol: Violation) -> Violation {
        viol.message = format!("`{}{}`: {}", self.name, path_text(&viol.path), viol.message);
        viol
    }
}

/// One step into a nested value: a list index or a table key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Index(usize),
    Key(String),
}

/// `[1]`, `.name`: the path of a nested value as the message shows it.
pub fn path_text(path: &[PathSeg]) -> String {
    path.iter()
        .map(|p| match p {
            PathSeg::Index(i) => format!("[{i}]"),
            PathSeg::Key(k) => format!(".{k}"),
        })
        .collect()
}

/// A value that breaks a constraint: where inside the attribute's value (empty: the value
/// itself) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<PathSeg>,
    pub message: String,
}

/// A rule an attribute's value must follow. AWS-free: a rule that needs AWS knowledge (the
/// structure of a policy document) is a [`Constraint::Check`] function the kind supplies.
#[derive(Debug, Clone)]
pub enum Constraint {
    /// A string, one of these.
    OneOf(&'static [&'static str]),
    /// An integer in `min..=max`.
    Range { min: i64, max: i64 },
    /// An integer, one of these.
    IntIn(&'static [i64]),
    /// An IPv4 CIDR block `a.b.c.d/n` with `n` in `min_prefix..=max_prefix`.
    Cidr { min_prefix: u8, max_prefix: u8 },
    /// An ARN `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` whose service is `service` and
    /// whose resource part starts with `resource` (`""`: any).
    Arn { service: &'static str, resource: &'static str },
    /// A name: `min..=max` characters, each accepted by `chars` (described by `chars_doc`,
    /// e.g. "letters, digits and hyphens").
    Name { min: usize, max: usize, chars: fn(char) -> bool, chars_doc: &'static str },
    /// An availability zone name of the stack's region: the region's name followed by a zone
    /// letter (`us-east-1a`) or a Local Zone suffix (`us-west-2-lax-1a`). Whether the zone
    /// exists is checked by `plan` (it needs a read, see `plan::checks`).
    Zone,
    /// A value that must exist in the account's region, which only an AWS read can tell (an
    /// availability zone, an instance type, a Kubernetes or add-on version). Not checked
    /// offline: `plan` asks the registry's [`super::Catalog`], one read per fact for every
    /// resource at once (see `plan::validate::reads`).
    Exists(Fact),
    /// A string that starts with `prefix` (an URL scheme, `alias/`).
    Prefix(&'static str),
    /// A string that does not start with `prefix` (names AWS reserves).
    NotPrefix(&'static str),
    /// Every element of a list follows the inner rule (a list of CIDRs, of rule tables).
    Each(Box<Constraint>),
    /// A kind's own check (`doc` says what it checks, for docs/resources.md). With
    /// `structural`, the check looks only at the value's structure, not at its strings, so
    /// the config layer runs it even while strings inside are not known yet (a policy
    /// document naming a role's ARN), with those strings replaced by a placeholder.
    Check { doc: &'static str, check: fn(&Value) -> Result<(), String>, structural: bool },
}

impl Constraint {
    /// A kind's check of the whole value.
    pub fn check_fn(doc: &'static str, check: fn(&Value) -> Result<(), String>) -> Self {
        Constraint::Check { doc, check, structural: false }
    }
    /// A kind's check of a value's structure (see [`Constraint::Check`]).
    pub fn structure(doc: &'static str, check: fn(&Value) -> Result<(), String>) -> Self {
        Constraint::Check { doc, check, structural: true }
    }
    /// Every element follows `c`.
    pub fn each(c: Constraint) -> Self {
        Constraint::Each(Box::new(c))
    }

    /// Whether the config layer may check this rule on a value whose unknown strings were
    /// replaced by a placeholder.
    pub fn structural(&self) -> bool {
        matches!(self, Constraint::Check { structural: true, .. })
    }

    /// The violations of this rule by `v`. Values of another type than the rule is about pass
    /// (the type check reports them).
    pub fn check(&self, v: &Value, region: Option<&str>) -> Vec<Violation> {
        let here = |message: String| vec![Violation { path: Vec::new(), message }];
        match self {
            Constraint::Each(inner) => match v.as_array() {
                Some(items) => items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, item)| {
                        inner.check(item, region).into_iter().map(move |mut viol| {
                            viol.path.insert(0, PathSeg::Index(i));
                            viol
                        })
                    })
                    .collect(),
                None => Vec::new(),
            },
            Constraint::Check { check, .. } => match check(v) {
                Ok(()) => Vec::new(),
                Err(m) => here(m),
            },
            Constraint::Range { min, max } => match v.as_i64() {
                Some(i) if i < *min || i > *max => here(format!("{i} is out of range: must be {min}–{max}")),
                _ => Vec::new(),
            },
            Constraint::IntIn(allowed) => match v.as_i64() {
                Some(i) if !allowed.contains(&i) => {
                    let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
                    here(format!("{i} is not allowed: must be one of {}", list.join(", ")))
                }
                _ => Vec::new(),
            },
            _ => match v.as_str() {
                Some(s) => self.check_str(s, region).map_or_else(Vec::new, here),
                None => Vec::new(),
            },
        }
    }

    fn check_str(&self, s: &str, region: Option<&str>) -> Option<String> {
        match self {
            Constraint::Zone => {
                let suffix_ok = |rest: &str| {
                    !rest.is_empty()
                        && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && rest.ends_with(|c: char| c.is_ascii_lowercase())
                };
                match region {
                    Some(r) if !s.strip_prefix(r).is_some_and(suffix_ok) => {
                        Some(format!("{s:?} is not an availability zone of the stack's region {r} (e.g. {r}a)"))
                    }
                    None if !(s.contains(|c: char| c.is_ascii_digit()) && suffix_ok(s)) => {
                        Some(format!("{s:?} is not an availability zone name (e.g. us-east-1a)"))
                    }
                    _ => None,
                }
            }
            Constraint::OneOf(allowed) if !allowed.contains(&s) => {
                let hint = closest(s, allowed).map_or_else(String::new, |c| format!("; did you mean \"{c}\"?"));
                Some(format!("{s:?} is not one of {}{hint}", quoted(allowed)))
            }
            Constraint::Cidr { min_prefix, max_prefix } => match Cidr::parse(s) {
                None => Some(format!("{s:?} is not an IPv4 CIDR block (a.b.c.d/n, n at most 32)")),
                Some(c) if c.len < *min_prefix || c.len > *max_prefix => {
                    Some(format!("{s:?}: the prefix length must be /{min_prefix} to /{max_prefix}, not /{}", c.len))
                }
                Some(_) => None,
            },
            Constraint::Arn { service, resource } => {
                let parts: Vec<&str> = s.splitn(6, ':').collect();
                let ok = parts.len() == 6
                    && parts[0] == "arn"
                    && parts[1].starts_with("aws")
                    && parts[2] == *service
                    && parts[5].starts_with(resource)
                    && parts[5].len() > resource.len();
                (!ok).then(|| format!("{s:?} is not an ARN of the form arn:aws:{service}:REGION:ACCOUNT:{resource}…"))
            }
            Constraint::Name { min, max, chars, chars_doc } => {
                let n = s.chars().count();
                if n < *min || n > *max {
                    Some(format!("{s:?} is {n} characters long: must be {min}–{max}"))
                } else {
                    s.chars().find(|c| !chars(*c)).map(|c| format!("{s:?} has {c:?}: only {chars_doc} are allowed"))
                }
            }
            Constraint::Prefix(p) if !s.starts_with(p) => Some(format!("{s:?} must start with `{p}`")),
            Constraint::NotPrefix(p) if s.starts_with(p) => {
                Some(format!("{s:?} must not start with `{p}` (reserved by AWS)"))
            }
            _ => None,
        }
    }

    /// What the rule allows, in words (for docs/resources.md).
    pub fn describe(&self) -> String {
        match self {
            Constraint::OneOf(allowed) => format!("one of {}", quoted(allowed)),
            Constraint::Range { min, max } => format!("{min}–{max}"),
            Constraint::IntIn(allowed) => {
                let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
                format!("one of {}", list.join(", "))
            }
            Constraint::Cidr { min_prefix, max_prefix } => format!("IPv4 CIDR, /{min_prefix} to /{max_prefix}"),
            Constraint::Arn { service, resource } => format!("ARN `arn:aws:{service}:…:{resource}…`"),
            Constraint::Name { min, max, chars_doc, .. } => format!("{min}–{max} characters: {chars_doc}"),
            Constraint::Zone => "an availability zone of the stack's region".to_string(),
            Constraint::Exists(f) => format!("{} (checked by `plan`)", f.describe()),
            Constraint::Prefix(p) => format!("starts with `{p}`"),
            Constraint::NotPrefix(p) => format!("does not start with `{p}`"),
            Constraint::Each(inner) => format!("each element: {}", inner.describe()),
            Constraint::Check { doc, .. } => doc.to_string(),
        }
    }
}

/// What [`Constraint::Exists`] asks AWS about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    /// An availability zone of the region (EC2 DescribeAvailabilityZones).
    AvailabilityZone,
    /// An instance type offered in the region (EC2 DescribeInstanceTypeOfferings); on a list,
    /// every element.
    InstanceType,
    /// A Kubernetes version EKS offers (EKS DescribeClusterVersions).
    KubernetesVersion,
    /// A version of the add-on named by the resource's `addon_name` (EKS DescribeAddonVersions).
    AddonVersion,
}

impl Fact {
    /// What is read, for messages about the read itself.
    pub fn noun(self) -> &'static str {
        match self {
            Fact::AvailabilityZone => "the region's availability zones",
            Fact::InstanceType => "the region's instance type offerings",
            Fact::KubernetesVersion => "the Kubernetes versions EKS offers",
            Fact::AddonVersion => "the EKS add-on versions",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Fact::AvailabilityZone => "a zone that exists in the region",
            Fact::InstanceType => "instance types offered in the region",
            Fact::KubernetesVersion => "a Kubernetes version EKS offers",
            Fact::AddonVersion => "a version that exists for the add-on",
        }
    }
}

fn quoted(items: &[&str]) -> String {
    let v: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    v.join(", ")
}

/// The allowed value closest to a misspelt one (`tpc` → `tcp`), if any is close.
fn closest<'a>(s: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::osa_distance(&s.to_ascii_lowercase(), &a.to_ascii_lowercase()), *a))
        .filter(|(d, a)| *d <= (a.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// An IPv4 block: network address and prefix length. The one parser of CIDR text, used by
/// [`Constraint::Cidr`] and by the plan's cross-resource network checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    len: u8,
}

impl Cidr {
    /// `a.b.c.d/n` with `n` at most 32; `None` for anything else.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let len: u8 = len.parse().ok().filter(|n| *n <= 32)?;
        Some(Cidr { base: u32::from(ip) & Self::mask(len), len })
    }

    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.len
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.len >= self.len && other.base & Self::mask(self.len) == self.base
    }

    /// Whether the two blocks share an address (for CIDR blocks: one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

/// The attributes of one kind. `id` is implicit: every resource has one.
#[derive(Debug, Clone)]
pub struct Schema {
    pub attrs: Vec<AttrSchema>,
    /// Replacing a resource of this kind loses data or running workloads (a cluster, a key, a
    /// zone, a repository): the plan warns about every such replacement.
    pub stateful: bool,
    /// Replacements create the new resource before deleting the old one unless the plan's
    /// `lifecycle` says otherwise (node groups: new nodes first, as eksctl does).
    pub create_before_destroy: bool,
}

impl Schema {
    pub fn new(attrs: Vec<AttrSchema>) -> Self {
        Schema { attrs, stateful: false, create_before_destroy: false }
    }
    /// Mark the kind as stateful (see [`Schema::stateful`]).
    pub fn stateful(mut self) -> Self {
        self.stateful = true;
        self
    }
    /// Replace create-before-destroy by default (see [`Schema::create_before_destroy`]).
    pub fn create_before_destroy(mut self) -> Self {
        self.create_before_destroy = true;
        self
    }
    pub fn get(&self, name: &str) -> Option<&AttrSchema> {
        self.attrs.iter().find(|a| a.name == name)
    }
    /// Inputs the plan may set (everything not computed).
    pub fn inputs(&self) -> impl Iterator<Item = &AttrSchema> {
        self.attrs.iter().filter(|a| !a.computed)
    }
    /// Every violation of the constraints by the attributes in `attrs` that the schema knows
    /// (the engine's check of resolved values, before a create or update).
    pub fn check(&self, attrs: &super::Attrs, region: Option<&str>) -> Vec<Violation> {
        attrs.iter().filter_map(|(k, v)| self.get(k).map(|s| s.check(v, region))).flatten().collect()
    }
    /// Is `name` readable as `${kind.name.<name>}`? (`id` always is.)
    pub fn has_output(&self, name: &str) -> bool {
        name == "id" || self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(a: &AttrSchema, v: Value) -> Vec<String> {
        a.check(&v, Some("us-east-1")).into_iter().map(|v| v.message).collect()
    }

    #[test]
    fn enums_ranges_and_cidrs() {
        let p = AttrSchema::required("protocol", AttrType::String).one_of(&["tcp", "udp", "icmp", "-1"]);
        assert!(msgs(&p, json!("tcp")).is_empty());
        assert_eq!(
            msgs(&p, json!("tpc")),
            vec!["`protocol`: \"tpc\" is not one of `tcp`, `udp`, `icmp`, `-1`; did you mean \"tcp\"?"]
        );
        let port = AttrSchema::optional("from_port", AttrType::Int).range(-1, 65535);
        assert!(msgs(&port, json!(443)).is_empty());
        assert_eq!(msgs(&port, json!(70000)), vec!["`from_port`: 70000 is out of range: must be -1–65535"]);
        let cidr = AttrSchema::required("cidr_block", AttrType::String)
            .constraint(Constraint::Cidr { min_prefix: 16, max_prefix: 28 });
        assert!(msgs(&cidr, json!("10.0.0.0/16")).is_empty());
        assert!(msgs(&cidr, json!("10.0.0.0/33"))[0].contains("not an IPv4 CIDR"));
        assert!(msgs(&cidr, json!("10.0.0.0/8"))[0].contains("/16 to /28, not /8"));
        assert!(msgs(&cidr, json!("10.0.0/16"))[0].contains("not an IPv4 CIDR"));
        assert!(msgs(&cidr, json!("10.0.0.0/+8"))[0].contains("not an IPv4 CIDR"));
        // Another type is the type check's business.
        assert!(msgs(&cidr, json!(3)).is_empty());
    }

    #[test]
    fn arns_names_and_lists() {
        let arn = AttrSchema::optional("role_arn", AttrType::String)
            .constraint(Constraint::Arn { service: "iam", resource: "role/" });
        assert!(msgs(&arn, json!("arn:aws:iam::123456789012:role/x")).is_empty());
        assert_eq!(msgs(&arn, json!("arn:aws:iam::123456789012:user/x")).len(), 1);
        assert_eq!(msgs(&arn, json!("role/x")).len(), 1);
        let name = AttrSchema::required("name", AttrType::String).constraint(Constraint::Name {
            min: 1,
            max: 5,
            chars: |c| c.is_ascii_alphanumeric(),
            chars_doc: "letters and digits",
        });
        assert!(msgs(&name, json!("abc")).is_empty());
        assert!(msgs(&name, json!("abcdef"))[0].contains("6 characters long"));
        assert!(msgs(&name, json!("a_b"))[0].contains("'_'"));
        let list = AttrSchema::optional("cidrs", AttrType::StringList)
            .constraint(Constraint::each(Constraint::Cidr { min_prefix: 0, max_prefix: 32 }));
        let v = list.check(&json!(["10.0.0.0/8", "x", "10.1.0.0/40"]), None);
        assert_eq!(
            v.iter().map(|v| v.path.clone()).collect::<Vec<_>>(),
            vec![vec![PathSeg::Index(1)], vec![PathSeg::Index(2)]]
        );
        assert!(v[0].message.starts_with("`cidrs[1]`: "));
    }

    #[test]
    fn zones() {
        let az = AttrSchema::required("availability_zone", AttrType::String).constraint(Constraint::Zone);
        assert!(msgs(&az, json!("us-east-1a")).is_empty());
        assert!(msgs(&az, json!("us-east-1-bos-1a")).is_empty());
        assert!(msgs(&az, json!("us-east-9z"))[0].contains("region us-east-1"));
        assert!(msgs(&az, json!("us-east-1")).len() == 1);
        assert!(az.check(&json!("eu-west-1b"), None).is_empty());
        assert_eq!(az.check(&json!("zone a"), None).len(), 1);
    }

    #[test]
    fn kind_checks() {
        fn even(v: &Value) -> Result<(), String> {
            match v.as_i64() {
                Some(i) if i % 2 == 1 => Err("must be even".into()),
                _ => Ok(()),
            }
        }
        let a = AttrSchema::optional("n", AttrType::Int).constraint(Constraint::check_fn("even", even));
        assert_eq!(msgs(&a, json!(3)), vec!["`n`: must be even"]);
        let schema = Schema::new(vec![a]);
        let attrs: crate::resource::Attrs = [("n".to_string(), json!(5)), ("other".to_string(), json!(1))].into();
        assert_eq!(schema.check(&attrs, None).len(), 1);
    }
}
