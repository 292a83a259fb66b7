//! A small JSON parser that keeps byte offsets.
//!
//! serde_json does not say where a value sits in the text, and every diagnostic of the
//! validator must name a line and column. This parser builds a tree in which each value
//! knows its byte range, keeps object members in file order, and records duplicate keys
//! instead of silently keeping the last one.

use std::fmt::Write as _;

/// A parsed value and where it is in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    /// Byte offset of the value's first character.
    pub start: usize,
    /// Byte offset just past the value.
    pub end: usize,
}

/// An object member: key text and its offset, then the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_start: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The number exactly as written (`1000000`, `1e3`, `-0.5`), so it can be written back
    /// verbatim into a channel variable.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<Member>),
}

impl Value {
    /// The members of an object, or `None`.
    pub fn as_object(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(text) => Some(text),
            _ => None,
        }
    }

    /// The member named `key` (exact match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|member| member.key == key)
            .map(|member| &member.value)
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    /// Compact JSON text of the value (strings re-escaped, numbers as written).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match &self.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Number(raw) => out.push_str(raw),
            Kind::String(text) => write_json_string(out, text),
            Kind::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Kind::Object(members) => {
                out.push('{');
                for (i, member) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(out, &member.key);
                    out.push(':');
                    member.value.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// Appends `text` as a JSON string literal.
pub fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Malformed JSON: what and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// A key that appears twice in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// JSON pointer of the second occurrence.
    pub pointer: String,
    pub offset: usize,
    /// Byte offset of the first occurrence's key.
    pub first_offset: usize,
}

/// The result of a successful parse.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Value,
    pub duplicates: Vec<DuplicateKey>,
}

/// Nesting deeper than this is refused (a hostile file must not exhaust the stack).
const MAX_DEPTH: usize = 256;

/// Parses a whole JSON text.
pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        duplicates: Vec::new(),
    };
    // A UTF-8 byte-order mark is tolerated, as editors add it.
    if parser.bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        parser.pos = 3;
    }
    parser.skip_ws();
    let root = parser.value(0)?;
    parser.skip_ws();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error("unexpected text after the end of the JSON value"));
    }
    let mut duplicates = parser.duplicates;
    for duplicate in &mut duplicates {
        let mut pointer = String::new();
        if find_key(&root, duplicate.offset, &mut pointer) {
            duplicate.pointer = pointer;
        }
    }
    Ok(Document { root, duplicates })
}

/// Builds the pointer of the member whose key starts at `offset`.
fn find_key(value: &Value, offset: usize, pointer: &mut String) -> bool {
    if offset < value.start || offset >= value.end {
        return false;
    }
    let base = pointer.len();
    match &value.kind {
        Kind::Object(members) => {
            for member in members {
                push_pointer(pointer, &member.key);
                if member.key_start == offset || find_key(&member.value, offset, pointer) {
                    return true;
                }
                pointer.truncate(base);
            }
        }
        Kind::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let _ = write!(pointer, "/{i}");
                if find_key(item, offset, pointer) {
                    return true;
                }
                pointer.truncate(base);
            }
        }
        _ => {}
    }
    false
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    duplicates: Vec<DuplicateKey>,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn describe_here(&self) -> String {
        match self.text[self.pos..].chars().next() {
            None => "end of input".to_string(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let start = self.pos;
        let kind = match self.bytes.get(self.pos) {
            None => return Err(self.error("unexpected end of input, expected a value")),
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => {
                return Err(self.error(format!("expected a value, found {}", self.describe_here())));
            }
        };
        Ok(Value {
            kind,
            start,
            end: self.pos,
        })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(kind)
        } else {
            Err(self.error(format!("expected a value, found {}", self.describe_here())))
        }
    }

    fn number(&mut self) -> Result<Kind, SyntaxError> {
        let start = self.pos;
        let b = self.bytes;
        if b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.error("invalid number: expected a digit")),
        }
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit after `.`"));
            }
            while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number: expected a digit in the exponent"));
            }
            while matches!(b.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(Kind::Number(self.text[start..self.pos].to_string()))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("invalid \\u escape: expected 4 hex digits"))?;
        self.pos += 4;
        Ok(u32::from_str_radix(digits, 16).expect("checked hex digits"))
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        // Most strings have no escape: one allocation of the exact size.
        let plain = self.bytes[self.pos..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        if let Some(len) = plain {
            if self.bytes[self.pos + len] == b'"' {
                let text = self.text[self.pos..self.pos + len].to_string();
                self.pos += len + 1;
                return Ok(text);
            }
        }
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => {
                    return Err(SyntaxError {
                        offset: open,
                        message: "unterminated string".to_string(),
                    });
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.bytes.get(self.pos).copied();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            match char::from_u32(code) {
                                Some(c) => out.push(c),
                                None => {
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape in string"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self.error("control character inside a string (escape it)"));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Kind::Array(items));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected `,` or `]` in array, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error(format!(
                    "expected a string key in object, found {}",
                    self.describe_here()
                )));
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.error(format!(
                    "expected `:` after object key, found {}",
                    self.describe_here()
                )));
            }
            self.pos += 1;
            self.skip_ws();
            if let Some(first) = members.iter().find(|m| m.key == key) {
                // The pointer is filled in after the parse (duplicates are rare).
                self.duplicates.push(DuplicateKey {
                    pointer: String::new(),
                    offset: key_start,
                    first_offset: first.key_start,
                });
            }
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                value,
            });
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Kind::Object(members));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected `,` or `}}` in object, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` as `~0` and `/` as `~1`
/// (RFC 6901).
pub fn push_pointer(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// `base` extended by one token.
pub fn pointer_join(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    push_pointer(&mut out, token);
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line_start = text.as_bytes()[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = text.as_bytes()[..line_start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    (line, column(text, line_start, offset))
}

/// `line_col` of many offsets in one forward scan of the text (calling `line_col` for each
/// scans the text up to its offset every time).
pub fn line_cols(text: &str, offsets: &[usize]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut out = vec![(0, 0); offsets.len()];
    let (mut scanned, mut line, mut line_start) = (0, 1, 0);
    for i in order {
        let offset = offsets[i].min(text.len());
        for (at, _) in text.as_bytes()[scanned..offset]
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
        {
            line += 1;
            line_start = scanned + at + 1;
        }
        scanned = offset;
        out[i] = (line, column(text, line_start, offset));
    }
    out
}

/// 1-based column in characters; an offset inside a character counts that character.
fn column(text: &str, line_start: usize, offset: usize) -> usize {
    text.get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_offsets_and_order() {
        let text = r#" {"b": [1, "x"], "a": null} "#;
        let doc = parse(text).unwrap();
        let members = doc.root.as_object().unwrap();
        assert_eq!(members[0].key, "b");
        assert_eq!(members[1].key, "a");
        let arr = &members[0].value;
        assert_eq!(&text[arr.start..arr.end], r#"[1, "x"]"#);
        assert_eq!(doc.root.start, 1);
    }

    #[test]
    fn keeps_numbers_as_written() {
        let doc = parse("[1000000, 1e6, -0.25]").unwrap();
        let items = doc.root.as_array().unwrap();
        assert_eq!(items[0].kind, Kind::Number("1000000".into()));
        assert_eq!(items[1].kind, Kind::Number("1e6".into()));
        assert_eq!(doc.root.to_json(), "[1000000,1e6,-0.25]");
    }

    #[test]
    fn decodes_escapes() {
        let doc = parse(r#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(doc.root.as_str(), Some("a\"b\\c/\né😀"));
    }

    #[test]
    fn reports_duplicates_with_pointer() {
        let doc = parse(r#"[{"set": {"a/b": 1, "a/b": 2}}]"#).unwrap();
        assert_eq!(doc.duplicates.len(), 1);
        assert_eq!(doc.duplicates[0].pointer, "/0/set/a~1b");
    }

    #[test]
    fn rejects_malformed_text_with_position() {
        let text = "[\n  {\"answer\": \"\"},\n  {\"hangup\" \"\"}\n]";
        let err = parse(text).unwrap_err();
        assert_eq!(line_col(text, err.offset), (3, 13));
        assert!(err.message.contains("expected `:`"), "{}", err.message);
        assert!(parse("[1,]").is_err());
        assert!(parse("[1] x").is_err());
        assert!(parse("\"abc").unwrap_err().message.contains("unterminated"));
        assert!(parse("01").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn refuses_absurd_nesting() {
        let text = "[".repeat(10_000);
        assert!(parse(&text).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn pointer_escaping() {
        assert_eq!(pointer_join("/0", "a~b/c"), "/0/a~0b~1c");
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\nсd";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2));
    }

    #[test]
    fn line_cols_agrees_with_line_col_at_every_offset() {
        for text in ["", "\n", "ab\nсd\n\nx", "\n\nсс\nend"] {
            let offsets: Vec<usize> = (0..=text.len() + 2).rev().chain([1, 0, 4]).collect();
            let expected: Vec<_> = offsets.iter().map(|&o| line_col(text, o)).collect();
            assert_eq!(line_cols(text, &offsets), expected, "{text:?}");
        }
    }
}
