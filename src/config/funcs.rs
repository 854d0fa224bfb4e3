//! The built-in functions. They work on known values only: the evaluator refuses to pass a
//! value that is known only after apply (a resource reference) into a function.

use std::collections::BTreeMap;

use crate::resource::Value;

/// Name, minimum and maximum number of arguments.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("concat", 1, usize::MAX),
    ("format", 1, usize::MAX),
    ("keys", 1, 1),
    ("length", 1, 1),
    ("lookup", 2, 3),
    ("merge", 1, usize::MAX),
    ("slice", 3, 3),
    ("values", 1, 1),
    ("zipmap", 2, 2),
];

pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.0)
}

/// `Some((min, max))` for a known function.
pub(crate) fn arity(name: &str) -> Option<(usize, usize)> {
    FUNCTIONS.iter().find(|f| f.0 == name).map(|f| (f.1, f.2))
}

/// A failed call: the argument at fault (if one is), and why.
#[derive(Debug, PartialEq)]
pub(crate) struct FnError {
    pub arg: Option<usize>,
    pub message: String,
}

fn at<T>(arg: usize, message: impl Into<String>) -> Result<T, FnError> {
    Err(FnError { arg: Some(arg), message: message.into() })
}

/// What kind of value `v` is, for messages.
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// Call `name` (already checked by [`arity`]) on `args`.
pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value, FnError> {
    match arity(name) {
        Some((min, max)) if (min..=max).contains(&args.len()) => {}
        _ => return Err(FnError { arg: None, message: format!("wrong number of arguments for `{name}`") }),
    }
    match name {
        "slice" => {
            let list = list(args, 0)?;
            let start = index(args, 1)?;
            let end = index(args, 2)?;
            if end > list.len() {
                return at(2, format!("end {end} is past the end of the list (length {})", list.len()));
            }
            if start > end {
                return at(1, format!("start {start} is after end {end}"));
            }
            Ok(Value::Array(list[start..end].to_vec()))
        }
        "length" => match &args[0] {
            Value::Array(a) => Ok(Value::from(a.len())),
            Value::Object(m) => Ok(Value::from(m.len())),
            Value::String(s) => Ok(Value::from(s.chars().count())),
            v => at(0, format!("length() takes a list, a table or a string, not {}", describe(v))),
        },
        "zipmap" => {
            let keys = strings(args, 0)?;
            let values = list(args, 1)?;
            if keys.len() != values.len() {
                return at(
                    1,
                    format!("zipmap() needs as many values as keys ({} keys, {} values)", keys.len(), values.len()),
                );
            }
            Ok(object(keys.into_iter().zip(values.iter().cloned())))
        }
        "keys" => Ok(Value::Array(sorted(map(args, 0)?).into_keys().map(Value::String).collect())),
        "values" => Ok(Value::Array(sorted(map(args, 0)?).into_values().collect())),
        "concat" => {
            let mut out = Vec::new();
            for i in 0..args.len() {
                out.extend(list(args, i)?.iter().cloned());
            }
            Ok(Value::Array(out))
        }
        "merge" => {
            let mut out = BTreeMap::new();
            for i in 0..args.len() {
                out.extend(map(args, i)?.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Ok(object(out))
        }
        "lookup" => {
            let m = map(args, 0)?;
            let Value::String(key) = &args[1] else {
                return at(1, format!("lookup() key must be a string, not {}", describe(&args[1])));
            };
            match (m.get(key), args.get(2)) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => {
                    let keys: Vec<String> = sorted(m).into_keys().collect();
                    at(1, format!("key `{key}` not found (keys: {})", keys.join(", ")))
                }
            }
        }
        "format" => format(args),
        _ => Err(FnError { arg: None, message: format!("unknown function `{name}`") }),
    }
}

fn format(args: &[Value]) -> Result<Value, FnError> {
    let Value::String(fmt) = &args[0] else {
        return at(0, format!("format() needs a format string first, not {}", describe(&args[0])));
    };
    let mut out = String::new();
    let mut next = 1;
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next();
        if verb == Some('%') {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            return at(0, format!("format string has more verbs than arguments ({} given)", args.len() - 1));
        };
        match (verb, arg) {
            (Some('s'), Value::String(s)) => out.push_str(s),
            (Some('s'), Value::Number(_) | Value::Bool(_)) => out.push_str(&arg.to_string()),
            (Some('d'), Value::Number(n)) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
            (Some(v @ ('s' | 'd')), _) => {
                return at(next, format!("%{v} cannot format {}", describe(arg)));
            }
            (Some(v), _) => return at(0, format!("unknown verb `%{v}` (use %s, %d or %%)")),
            (None, _) => return at(0, "format string ends with a lone `%`"),
        }
        next += 1;
    }
    if next < args.len() {
        return at(next, format!("too many arguments for the format string ({} used)", next - 1));
    }
    Ok(Value::String(out))
}

fn list(args: &[Value], i: usize) -> Result<&Vec<Value>, FnError> {
    match &args[i] {
        Value::Array(a) => Ok(a),
        v => at(i, format!("expected a list, got {}", describe(v))),
    }
}

fn map(args: &[Value], i: usize) -> Result<&serde_json::Map<String, Value>, FnError> {
    match &args[i] {
        Value::Object(m) => Ok(m),
        v => at(i, format!("expected a table, got {}", describe(v))),
    }
}

fn strings(args: &[Value], i: usize) -> Result<Vec<String>, FnError> {
    list(args, i)?
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            v => at(i, format!("expected a list of strings, but it holds {}", describe(v))),
        })
        .collect()
}

fn index(args: &[Value], i: usize) -> Result<usize, FnError> {
    match args[i].as_u64().and_then(|n| usize::try_from(n).ok()) {
        Some(n) => Ok(n),
        None => at(i, format!("expected a non-negative integer, got {}", args[i])),
    }
}

fn sorted(m: &serde_json::Map<String, Value>) -> BTreeMap<String, Value> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// An object with its keys in sorted order (serde_json keeps insertion order here).
pub(crate) fn object(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    let sorted: BTreeMap<String, Value> = entries.into_iter().collect();
    Value::Object(sorted.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(name: &str, args: Value) -> Value {
        call(name, args.as_array().unwrap()).unwrap()
    }

    #[test]
    fn computes() {
        assert_eq!(ok("slice", json!([["a", "b", "c"], 0, 2])), json!(["a", "b"]));
        assert_eq!(ok("length", json!([{"a": 1}])), json!(1));
        assert_eq!(ok("zipmap", json!([["b", "a"], [1, 2]])), json!({"a": 2, "b": 1}));
        assert_eq!(ok("keys", json!([{"b": 1, "a": 2}])), json!(["a", "b"]));
        assert_eq!(ok("values", json!([{"b": 1, "a": 2}])), json!([2, 1]));
        assert_eq!(ok("concat", json!([["a"], [], ["b"]])), json!(["a", "b"]));
        assert_eq!(ok("merge", json!([{"a": 1, "b": 1}, {"b": 2}])), json!({"a": 1, "b": 2}));
        assert_eq!(ok("lookup", json!([{"a": 1}, "b", 0])), json!(0));
        assert_eq!(ok("format", json!(["%s-%d-%s 100%%", "x", 3, true])), json!("x-3-true 100%"));
    }

    #[test]
    fn rejects_bad_arguments() {
        let e = call("slice", json!([["a"], 0, 2]).as_array().unwrap()).unwrap_err();
        assert_eq!(e.arg, Some(2));
        let e = call("format", json!(["%d", "x"]).as_array().unwrap()).unwrap_err();
        assert_eq!(e, FnError { arg: Some(1), message: "%d cannot format a string".into() });
        let e = call("format", json!(["%s %s", "x"]).as_array().unwrap()).unwrap_err();
        assert_eq!(e.arg, Some(0));
        let e = call("lookup", json!([{"a": 1}, "b"]).as_array().unwrap()).unwrap_err();
        assert_eq!(e.message, "key `b` not found (keys: a)");
    }
}
