//! String templates of application arguments (docs/semantics.md, "Arguments"), split once at load time.
//!
//! `${name}` channel variable, `${name.a.0.b}` JSON path into a variable holding JSON,
//! `${name.uri()}` URL-encoded value, `${strepoch()}` epoch seconds, `$${name}` global
//! variable, `$N` invocation argument (`$0` = all of them). Missing values expand to "".
//! Expanded values are inert: they are never scanned again.

use std::borrow::Cow;

use crate::host::Host;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<str>),
    Var(Box<str>),
    /// `${base.path}`: `base` holds JSON; if no variable `base` exists, the whole text
    /// `full` is looked up as a variable name instead.
    JsonPath {
        base: Box<str>,
        full: Box<str>,
        path: Box<[Box<str>]>,
    },
    /// `${….uri()}`: the inner part's value, URL-encoded.
    Uri(Box<Part>),
    Global(Box<str>),
    Arg(usize),
    EpochSeconds,
}

/// A pre-split template. Expansion does no parsing, only look-ups and copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Box<[Part]>,
}

/// What a template reads while expanding: the call and the invocation arguments.
pub struct Scope<'a> {
    pub host: &'a mut dyn Host,
    pub args: &'a [String],
}

impl Template {
    /// Splits `text` into literal and variable parts.
    pub fn parse(text: &str) -> Template {
        if !text.contains('$') {
            return Template::literal(text);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                // `$${global}`
                if text[i..].starts_with("$${") {
                    if let Some(close) = text[i + 3..].find('}') {
                        let name = &text[i + 3..i + 3 + close];
                        if !name.is_empty() {
                            flush(&mut parts, &mut literal);
                            parts.push(Part::Global(name.into()));
                            i += 3 + close + 1;
                            continue;
                        }
                    }
                }
                // `${var…}`
                if text[i..].starts_with("${") {
                    if let Some(close) = text[i + 2..].find('}') {
                        let inner = &text[i + 2..i + 2 + close];
                        if let Some(part) = var_part(inner) {
                            flush(&mut parts, &mut literal);
                            parts.push(part);
                            i += 2 + close + 1;
                            continue;
                        }
                    }
                }
                // `$N`
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    if let Ok(n) = text[i + 1..i + 1 + digits].parse::<usize>() {
                        flush(&mut parts, &mut literal);
                        parts.push(Part::Arg(n));
                        i += 1 + digits;
                        continue;
                    }
                }
            }
            // Copy up to the next `$` (a `$` that starts nothing is literal too).
            let first = text[i..].chars().next().map_or(1, char::len_utf8);
            let next = text[i + first..]
                .find('$')
                .map_or(text.len(), |n| i + first + n);
            literal.push_str(&text[i..next]);
            i = next;
        }
        flush(&mut parts, &mut literal);
        Template {
            parts: parts.into_boxed_slice(),
        }
    }

    /// A template that expands to `text` verbatim.
    pub fn literal(text: &str) -> Template {
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Literal(text.into())]
        };
        Template {
            parts: parts.into_boxed_slice(),
        }
    }

    /// The text when the template has no variable part.
    pub fn as_literal(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Expands the template; borrows when it is a plain literal.
    pub fn expand<'t>(&'t self, scope: &mut Scope<'_>) -> Cow<'t, str> {
        if let Some(text) = self.as_literal() {
            return Cow::Borrowed(text);
        }
        // A lone variable: hand over the host's string as it is (no second copy).
        if let [Part::Var(name)] = &*self.parts {
            return Cow::Owned(scope.host.var(name).unwrap_or_default());
        }
        let mut out = String::new();
        for part in self.parts.iter() {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(name) => {
                    scope.host.var_into(name, &mut out);
                }
                Part::JsonPath { base, full, path } => match scope.host.var(base) {
                    Some(json) => out.push_str(&json_path(&json, path)),
                    None => {
                        if let Some(value) = scope.host.var(full) {
                            out.push_str(&value);
                        }
                    }
                },
                Part::Uri(inner) => {
                    let value = Template {
                        parts: Box::new([(**inner).clone()]),
                    };
                    uri_encode_into(&mut out, &value.expand(scope));
                }
                Part::Global(name) => {
                    if let Some(value) = scope.host.global_var(name) {
                        out.push_str(&value);
                    }
                }
                Part::Arg(n) => {
                    if *n == 0 {
                        out.push_str(&scope.args.join(" "));
                    } else if let Some(arg) = scope.args.get(n - 1) {
                        out.push_str(arg);
                    }
                }
                Part::EpochSeconds => {
                    let seconds = scope.host.now_micros().div_euclid(1_000_000);
                    out.push_str(&seconds.to_string());
                }
            }
        }
        Cow::Owned(out)
    }
}

/// The channel variable the text inside `${…}` reads, as (name, full text): `a.b.0` reads
/// `a` (or, when no `a` exists, the variable named `a.b.0`); `strepoch()` and FreeSWITCH
/// syntax read none. For `rustflow check`'s notes.
pub(crate) fn variable_read(inner: &str) -> Option<(String, String)> {
    part_read(&var_part(inner)?)
}

/// Every channel variable a template text reads, as [`variable_read`] gives them.
pub(crate) fn template_reads(text: &str) -> Vec<(String, String)> {
    // Every read is a `${…}`; most strings of a flow have none.
    if !text.contains("${") {
        return Vec::new();
    }
    Template::parse(text)
        .parts
        .iter()
        .filter_map(part_read)
        .collect()
}

fn part_read(part: &Part) -> Option<(String, String)> {
    match part {
        Part::Var(name) => Some((name.to_string(), name.to_string())),
        Part::JsonPath { base, full, .. } => Some((base.to_string(), full.to_string())),
        Part::Uri(inner) => part_read(inner),
        _ => None,
    }
}

/// The value of the text inside `${…}` as an expression reads it (`name`, `name.a.0`,
/// `name.uri()`, `strepoch()`): the same rules as a template part, "" when missing.
pub fn lookup(scope: &mut Scope<'_>, inner: &str) -> String {
    match var_part(inner) {
        Some(part) => {
            let template = Template {
                parts: Box::new([part]),
            };
            template.expand(scope).into_owned()
        }
        None => scope.host.var(inner).unwrap_or_default(),
    }
}

fn flush(parts: &mut Vec<Part>, literal: &mut String) {
    if !literal.is_empty() {
        parts.push(Part::Literal(std::mem::take(literal).into()));
    }
}

/// The part for the text between `${` and `}`; `None` leaves it literal.
fn var_part(inner: &str) -> Option<Part> {
    let inner = inner.trim();
    if inner.is_empty() || inner.contains('{') || inner.contains('$') {
        return None;
    }
    if inner == "strepoch()" {
        return Some(Part::EpochSeconds);
    }
    if let Some(name) = inner.strip_suffix(".uri()") {
        return match var_part(name)? {
            part @ (Part::Var(_) | Part::JsonPath { .. }) => Some(Part::Uri(Box::new(part))),
            _ => None,
        };
    }
    if inner.contains(' ') || inner.contains('(') {
        // `${api args}` and other FreeSWITCH syntax stays inert text (docs/semantics.md, "Arguments").
        return None;
    }
    if let Some((base, path)) = inner.split_once('.') {
        if !base.is_empty() && !path.is_empty() {
            return Some(Part::JsonPath {
                base: base.into(),
                full: inner.into(),
                path: path.split('.').map(Into::into).collect(),
            });
        }
    }
    Some(Part::Var(inner.into()))
}

/// Applies a dotted path (`items.0.id`) to JSON text. Strings come out raw, other values
/// as JSON text; anything missing or unparsable gives "".
pub fn json_path(json: &str, path: &[Box<str>]) -> String {
    let Ok(root) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    let mut current = &root;
    for step in path {
        let next = match current {
            serde_json::Value::Object(map) => map.get(&**step),
            serde_json::Value::Array(items) => {
                step.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return String::new(),
        }
    }
    json_value_text(current)
}

/// A JSON value as a channel variable holds it: strings raw, null empty, others as JSON.
pub fn json_value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub fn uri_encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parts() {
        let t = Template::parse("a ${x} $${g} $1 ${r.items.0} ${u.uri()} ${strepoch()} b");
        assert_eq!(t.parts.len(), 13);
        assert_eq!(t.parts[1], Part::Var("x".into()));
        assert_eq!(t.parts[3], Part::Global("g".into()));
        assert_eq!(t.parts[5], Part::Arg(1));
        assert_eq!(t.parts[9], Part::Uri(Box::new(Part::Var("u".into()))));
        assert_eq!(t.parts[11], Part::EpochSeconds);
    }

    #[test]
    fn keeps_unclosed_and_api_syntax_literal() {
        assert_eq!(Template::parse("${x").as_literal(), Some("${x"));
        assert_eq!(
            Template::parse("${uuid_bridge a b}").as_literal(),
            Some("${uuid_bridge a b}")
        );
        assert_eq!(Template::parse("${}").as_literal(), Some("${}"));
        assert_eq!(Template::parse("cost $ 5").as_literal(), Some("cost $ 5"));
        assert_eq!(Template::parse("").as_literal(), Some(""));
        assert_eq!(Template::parse("ünï").as_literal(), Some("ünï"));
        assert_eq!(
            Template::parse("é${x}ü$ö").parts[2],
            Part::Literal("ü$ö".into())
        );
    }

    #[test]
    fn json_paths() {
        let json = r#"{"items":[{"id":7,"name":"x"}],"s":"t"}"#;
        let p = |s: &str| s.split('.').map(Into::into).collect::<Vec<Box<str>>>();
        assert_eq!(json_path(json, &p("items.0.id")), "7");
        assert_eq!(json_path(json, &p("items.0.name")), "x");
        assert_eq!(json_path(json, &p("items.0")), r#"{"id":7,"name":"x"}"#);
        assert_eq!(json_path(json, &p("items.5")), "");
        assert_eq!(json_path("not json", &p("a")), "");
    }

    #[test]
    fn uri_encoding() {
        let mut out = String::new();
        uri_encode_into(&mut out, "a b&c/é");
        assert_eq!(out, "a%20b%26c%2F%C3%A9");
    }
}
