//! Plan files: loading, env overlays, expressions, `for_each` expansion, validation.
//! (Being written; see `docs/plan-language.md`.)

pub mod model;

pub use model::{ResourceDecl, SourceLoc, Stack, Tmpl};
