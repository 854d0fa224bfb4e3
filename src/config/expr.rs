//! The expression language inside `${...}`: template splitting, lexer and parser.
//!
//! A string value is split into literal text and `${expr}` pieces ([`parse_template`]); each
//! expression is lexed and parsed into an [`Expr`] tree whose positions ([`Rel`]) are byte
//! offsets into the string, so the evaluator can point errors at the exact sub-expression.
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr     := equality ( "?" expr ":" expr )?
//! equality := postfix ( ("==" | "!=") postfix )*
//! postfix  := primary ( "." IDENT | "[" "*" "]" | "[" expr "]" )*
//! primary  := INT | STRING | "true" | "false" | IDENT | IDENT "(" args ")"
//!           | "[" args "]" | "(" expr ")"
//! ```

/// A byte range inside the string that holds the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rel {
    pub start: usize,
    pub end: usize,
}

impl Rel {
    fn to(self, other: Rel) -> Rel {
        Rel { start: self.start, end: other.end.max(self.start) }
    }
}

/// A syntax error inside a string: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub at: Rel,
    pub message: String,
}

fn err<T>(at: Rel, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError { at, message: message.into() })
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub at: Rel,
    pub kind: ExprKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Expr>),
    /// A bare identifier: `var`, `local`, `each`, `stack` or a resource kind.
    Name(String),
    /// `x.name`; the `Rel` is the name's.
    Field(Box<Expr>, String, Rel),
    /// `x[i]`
    Index(Box<Expr>, Box<Expr>),
    /// `x[*]`
    Splat(Box<Expr>),
    Call(String, Vec<Expr>),
    /// `a == b` (`eq = true`) or `a != b`.
    Compare {
        eq: bool,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// One piece of a string value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Expr(Expr),
}

/// Split `s` into text and `${expr}` pieces. `$${` is a literal `${`.
pub(crate) fn parse_template(s: &str) -> Result<Vec<Piece>, SyntaxError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("$${") {
            text.push_str("${");
            i += 3;
        } else if rest.starts_with("${") {
            let open = i;
            let body_start = i + 2;
            let close = find_close(s, body_start)
                .ok_or(SyntaxError { at: Rel { start: open, end: open + 2 }, message: "unclosed `${`".into() })?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Expr(parse_expr(s, body_start, close)?));
            i = close + 1;
        } else {
            let c = rest.chars().next().unwrap_or('\0');
            text.push(c);
            i += c.len_utf8().max(1);
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The index of the `}` closing an expression that starts at `from`, skipping quoted strings.
fn find_close(s: &str, from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (off, c) in s.get(from..)?.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '}' => return Some(from + off),
                _ => {}
            },
        }
    }
    None
}

/// Parse the expression in `s[start..end]`; positions stay relative to `s`.
pub(crate) fn parse_expr(s: &str, start: usize, end: usize) -> Result<Expr, SyntaxError> {
    let toks = lex(s, start, end)?;
    let mut p = Parser { toks, pos: 0, depth: 0 };
    if p.peek() == &Tok::Eof {
        return err(Rel { start, end }, "empty expression");
    }
    let e = p.expr()?;
    match p.peek() {
        Tok::Eof => Ok(e),
        t => {
            let t = t.describe();
            err(p.at(), format!("unexpected {t} after the expression"))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    Dot,
    Comma,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Star,
    EqEq,
    NotEq,
    Question,
    Colon,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Dot => "`.`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Star => "`*`".into(),
            Tok::EqEq => "`==`".into(),
            Tok::NotEq => "`!=`".into(),
            Tok::Question => "`?`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Eof => "end of expression".into(),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn lex(s: &str, start: usize, end: usize) -> Result<Vec<(Tok, Rel)>, SyntaxError> {
    let src = s.get(start..end).unwrap_or("");
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some((off, c)) = it.next() {
        let at = start + off;
        let one = Rel { start: at, end: at + c.len_utf8() };
        let simple = match c {
            c if c.is_whitespace() => continue,
            '.' => Some(Tok::Dot),
            ',' => Some(Tok::Comma),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '*' => Some(Tok::Star),
            '?' => Some(Tok::Question),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(t) = simple {
            out.push((t, one));
            continue;
        }
        match c {
            '=' | '!' => {
                if it.peek().map(|&(_, n)| n) == Some('=') {
                    it.next();
                    out.push((if c == '=' { Tok::EqEq } else { Tok::NotEq }, Rel { start: at, end: at + 2 }));
                } else {
                    return err(one, format!("unexpected `{c}`; did you mean `{c}=`?"));
                }
            }
            '"' | '\'' => {
                let mut value = String::new();
                let mut closed = None;
                while let Some((o, ch)) = it.next() {
                    if ch == c {
                        closed = Some(start + o + 1);
                        break;
                    }
                    if ch == '\\' {
                        match it.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, e @ ('\\' | '"' | '\''))) => value.push(e),
                            Some((o2, e)) => {
                                let r = Rel { start: start + o, end: start + o2 + e.len_utf8() };
                                return err(r, format!("unknown escape `\\{e}`"));
                            }
                            None => break,
                        }
                    } else {
                        value.push(ch);
                    }
                }
                match closed {
                    Some(e) => out.push((Tok::Str(value), Rel { start: at, end: e })),
                    None => return err(Rel { start: at, end }, "unterminated string"),
                }
            }
            c if c.is_ascii_digit() || (c == '-' && it.peek().is_some_and(|(_, n)| n.is_ascii_digit())) => {
                let mut digits = String::from(c);
                let mut last = at + 1;
                while let Some(&(o, n)) = it.peek() {
                    if !n.is_ascii_digit() {
                        break;
                    }
                    digits.push(n);
                    last = start + o + 1;
                    it.next();
                }
                let r = Rel { start: at, end: last };
                match digits.parse::<i64>() {
                    Ok(i) => out.push((Tok::Int(i), r)),
                    Err(_) => return err(r, format!("integer `{digits}` is out of range")),
                }
            }
            c if is_ident_start(c) => {
                let mut name = String::from(c);
                let mut last = at + 1;
                while let Some(&(o, n)) = it.peek() {
                    if !is_ident_char(n) {
                        break;
                    }
                    name.push(n);
                    last = start + o + 1;
                    it.next();
                }
                out.push((Tok::Ident(name), Rel { start: at, end: last }));
            }
            c => return err(one, format!("unexpected character `{c}`")),
        }
    }
    out.push((Tok::Eof, Rel { start: end, end }));
    Ok(out)
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<(Tok, Rel)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |(t, _)| t)
    }

    fn at(&self) -> Rel {
        self.toks.get(self.pos).or(self.toks.last()).map_or(Rel { start: 0, end: 0 }, |(_, r)| *r)
    }

    fn bump(&mut self) -> (Tok, Rel) {
        let t = self.toks.get(self.pos).cloned().unwrap_or((Tok::Eof, self.at()));
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Rel, SyntaxError> {
        if *self.peek() == want {
            Ok(self.bump().1)
        } else {
            let found = self.peek().describe();
            err(self.at(), format!("expected {what}, found {found}"))
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at(), "expression nested too deeply");
        }
        let cond = self.equality()?;
        let out = if *self.peek() == Tok::Question {
            self.bump();
            let yes = self.expr()?;
            self.expect(Tok::Colon, "`:`")?;
            let no = self.expr()?;
            Expr { at: cond.at.to(no.at), kind: ExprKind::Cond(Box::new(cond), Box::new(yes), Box::new(no)) }
        } else {
            cond
        };
        self.depth -= 1;
        Ok(out)
    }

    /// One more level of nesting for a tree built in a loop (`a == b == c`, `a.b.c`): the tree
    /// is as deep as the chain is long, and walking or dropping it recurses that deep.
    fn nest(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at(), "expression nested too deeply");
        }
        Ok(())
    }

    fn equality(&mut self) -> Result<Expr, SyntaxError> {
        let depth = self.depth;
        let mut lhs = self.postfix()?;
        loop {
            let eq = match self.peek() {
                Tok::EqEq => true,
                Tok::NotEq => false,
                _ => {
                    self.depth = depth;
                    return Ok(lhs);
                }
            };
            self.nest()?;
            self.bump();
            let rhs = self.postfix()?;
            lhs =
                Expr { at: lhs.at.to(rhs.at), kind: ExprKind::Compare { eq, lhs: Box::new(lhs), rhs: Box::new(rhs) } };
        }
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let depth = self.depth;
        let mut e = self.primary()?;
        loop {
            if matches!(self.peek(), Tok::Dot | Tok::LBracket) {
                self.nest()?;
            }
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    match self.bump() {
                        (Tok::Ident(name), r) => {
                            e = Expr { at: e.at.to(r), kind: ExprKind::Field(Box::new(e), name, r) };
                        }
                        (t, r) => return err(r, format!("expected a name after `.`, found {}", t.describe())),
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    if *self.peek() == Tok::Star {
                        self.bump();
                        let close = self.expect(Tok::RBracket, "`]`")?;
                        e = Expr { at: e.at.to(close), kind: ExprKind::Splat(Box::new(e)) };
                    } else {
                        let idx = self.expr()?;
                        let close = self.expect(Tok::RBracket, "`]`")?;
                        e = Expr { at: e.at.to(close), kind: ExprKind::Index(Box::new(e), Box::new(idx)) };
                    }
                }
                _ => {
                    self.depth = depth;
                    return Ok(e);
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let (tok, at) = self.bump();
        let kind = match tok {
            Tok::Int(i) => ExprKind::Int(i),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(name) if name == "true" => ExprKind::Bool(true),
            Tok::Ident(name) if name == "false" => ExprKind::Bool(false),
            Tok::Ident(name) => {
                if *self.peek() == Tok::LParen {
                    self.bump();
                    let (args, close) = self.args(Tok::RParen, "`)`")?;
                    return Ok(Expr { at: at.to(close), kind: ExprKind::Call(name, args) });
                }
                ExprKind::Name(name)
            }
            Tok::LBracket => {
                let (items, close) = self.args(Tok::RBracket, "`]`")?;
                return Ok(Expr { at: at.to(close), kind: ExprKind::List(items) });
            }
            Tok::LParen => {
                let inner = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                return Ok(inner);
            }
            t => return err(at, format!("expected a value, found {}", t.describe())),
        };
        Ok(Expr { at, kind })
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn args(&mut self, close: Tok, what: &str) -> Result<(Vec<Expr>, Rel), SyntaxError> {
        let mut items = Vec::new();
        loop {
            if *self.peek() == close {
                return Ok((items, self.bump().1));
            }
            items.push(self.expr()?);
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                let r = self.expect(close.clone(), &format!("`,` or {what}"))?;
                return Ok((items, r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Expr, SyntaxError> {
        parse_expr(s, 0, s.len())
    }

    #[test]
    fn splits_templates() {
        let p = parse_template("a-${var.x}-b $${lit}").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], Piece::Text("a-".into()));
        assert!(matches!(&p[1], Piece::Expr(Expr { at: Rel { start: 4, end: 9 }, .. })));
        assert_eq!(p[2], Piece::Text("-b ${lit}".into()));
        // A `}` inside a quoted string does not close the expression.
        let p = parse_template("${lookup(var.m, '}')}").unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn parses_precedence_and_postfix() {
        let e = parse("var.a == 'x' ? ec2_subnet.public[each.key].id : ec2_vpc.main[*].id").unwrap();
        let ExprKind::Cond(c, yes, no) = e.kind else { panic!("not a conditional") };
        assert!(matches!(c.kind, ExprKind::Compare { eq: true, .. }));
        assert!(matches!(yes.kind, ExprKind::Field(_, ref f, _) if f == "id"));
        assert!(matches!(no.kind, ExprKind::Field(ref inner, _, _) if matches!(inner.kind, ExprKind::Splat(_))));
        let e = parse("slice([1, 2, -3,], 0, 2)").unwrap();
        assert!(matches!(e.kind, ExprKind::Call(ref n, ref a) if n == "slice" && a.len() == 3));
    }

    #[test]
    fn reports_positions_of_syntax_errors() {
        assert_eq!(parse("var.").unwrap_err().at, Rel { start: 4, end: 4 });
        assert_eq!(parse("a = b").unwrap_err().at, Rel { start: 2, end: 3 });
        assert_eq!(parse("'abc").unwrap_err().message, "unterminated string");
        assert_eq!(parse("f(1, 2").unwrap_err().message, "expected `,` or `)`, found end of expression");
        assert_eq!(parse_template("x ${var.a").unwrap_err().at, Rel { start: 2, end: 4 });
        assert_eq!(parse_template("${ }").unwrap_err().message, "empty expression");
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&deep).is_err());
    }

    /// Found by fuzzing: `a.b.c…` and `a == b == c…` are parsed in a loop but build a tree as
    /// deep as the chain; a long chain overflowed the stack when the tree was walked or dropped.
    #[test]
    fn long_chains_are_refused_not_overflowed() {
        for chain in [format!("var{}", ".a".repeat(100_000)), format!("1{}", " == 1".repeat(100_000))] {
            let e = parse(&chain).unwrap_err();
            assert_eq!(e.message, "expression nested too deeply");
        }
        let e = parse(&format!("x{}", "[0]".repeat(10_000))).unwrap_err();
        assert_eq!(e.message, "expression nested too deeply");
        // Chains as long as real references parse, and the depth is given back after each one.
        let ok = format!("[{}]", vec!["ec2_subnet.public[each.key].id == 'x'"; 200].join(", "));
        assert!(parse(&ok).is_ok());
    }
}
