//! Attribute schemas: the single source of truth for validation (config), diff (plan) and
//! redaction (state, output).

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
    /// Is `name` readable as `${kind.name.<name>}`? (`id` always is.)
    pub fn has_output(&self, name: &str) -> bool {
        name == "id" || self.get(name).is_some()
    }
}
