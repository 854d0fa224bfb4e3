//! Resource addresses: `kind.name` or `kind.name["key"]` for an instance of a repeated resource.

use std::fmt;
use std::str::FromStr;

/// The unique name of one resource in a stack, e.g. `ec2_subnet.private["us-east-1a"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: String,
    pub name: String,
    /// The `for_each` key, for instances of a repeated resource.
    pub key: Option<String>,
}

impl Address {
    pub fn new(kind: impl Into<String>, name: impl Into<String>, key: Option<String>) -> Self {
        Address { kind: kind.into(), name: name.into(), key }
    }
}

/// The suffix of the name under which a create-before-destroy replacement records the old
/// resource until it is deleted (Terraform's "deposed" object).
pub const DEPOSED_SUFFIX: &str = "--deposed";

impl Address {
    /// Where the old resource of a create-before-destroy replacement of `self` is recorded while
    /// the new one is made: a plan that no longer finds it declared deletes it.
    pub fn deposed(&self) -> Address {
        Address::new(&self.kind, format!("{}{DEPOSED_SUFFIX}", self.name), self.key.clone())
    }
    pub fn is_deposed(&self) -> bool {
        self.name.ends_with(DEPOSED_SUFFIX)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        if let Some(k) = &self.key {
            // The key is quoted JSON-style so any string round-trips through FromStr.
            write!(f, "[{}]", serde_json::Value::String(k.clone()))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid resource address `{0}`: expected kind.name, kind.name[\"key\"] or kind.name['key']")]
pub struct AddressParseError(pub String);

impl FromStr for Address {
    type Err = AddressParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressParseError(s.to_string());
        let (head, key) = match s.find('[') {
            Some(i) => {
                let rest = &s[i..];
                let key = if rest.starts_with("[\"") && rest.ends_with("\"]") {
                    serde_json::from_str::<String>(&rest[1..rest.len() - 1]).map_err(|_| err())?
                } else if rest.len() >= 4 && rest.starts_with("['") && rest.ends_with("']") {
                    // Single quotes, as shells make easy (`kprov state show 'x.y['k']'` needs no
                    // escaping): the key is taken literally and may not contain `'`.
                    let inner = &rest[2..rest.len() - 2];
                    if inner.contains('\'') {
                        return Err(err());
                    }
                    inner.to_string()
                } else {
                    return Err(err());
                };
                (&s[..i], Some(key))
            }
            None => (s, None),
        };
        let (kind, name) = head.split_once('.').ok_or_else(err)?;
        let ident = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ident(kind) || !ident(name) {
            return Err(err());
        }
        Ok(Address::new(kind, name, key))
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_plain_and_keyed_addresses() {
        for s in ["ec2_vpc.main", "ec2_subnet.private[\"us-east-1a\"]", "x.y[\"a\\\"b\"]"] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: Address = "ec2_subnet.private[\"us-east-1a\"]".parse().unwrap();
        assert_eq!(a.key.as_deref(), Some("us-east-1a"));
        let single: Address = "ec2_subnet.private['us-east-1a']".parse().unwrap();
        assert_eq!(single, a, "single quotes name the same instance");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for s in ["", "vpc", "a.b[c]", "a.b[\"c\"", ".b", "a b.c", "a.b['c\"]", "a.b[']", "a.b['c'd']"] {
            assert!(s.parse::<Address>().is_err(), "{s} should not parse");
        }
    }
}
