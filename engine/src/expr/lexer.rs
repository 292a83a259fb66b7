//! A JavaScript tokenizer that knows the flow dialect: `${name}`, `$${name}`, `$N` and
//! `&helper(arg)`. It is used twice: to rewrite the source for the embedded engine (the
//! dialect tokens become argument references, so values are never pasted as code) and to
//! feed the native parser. It also tracks bracket depth, so a body can never close the
//! wrapper function it is placed into.

/// Which dialect tokens are recognised.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `if.expression` / `while.condition`: `${}`, `$${}`, `$N`, `&helper()`.
    Expression,
    /// `js` bodies: only `${}` and `$${}` (`$1` is an identifier, `&` an operator).
    Function,
}

/// The date helpers (docs/semantics.md), longest names first where they share a prefix.
pub(crate) const HELPERS: [&str; 12] = [
    "minute_of_day",
    "time_of_day",
    "date_time",
    "minute",
    "mweek",
    "week",
    "wday",
    "yday",
    "year",
    "mday",
    "mon",
    "hour",
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A plain decimal/hex/octal/binary number.
    Num(f64),
    /// A number form the native evaluator does not handle (BigInt, separators, legacy octal).
    OtherNum,
    /// A string literal; `None` when its value is not valid UTF-16 text (lone surrogate)
    /// or uses legacy octal escapes.
    Str(Option<String>),
    /// A template literal; its `${name}` parts are in `subs` (source spans + names).
    Template(Vec<(usize, usize, String)>),
    Regex {
        body: String,
        flags: String,
    },
    Ident(String),
    Punct(&'static str),
    Var(String),
    Global(String),
    Arg(usize),
    Helper {
        name: &'static str,
        arg: String,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

const PUNCTS: [&str; 54] = [
    ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=",
    "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "**", "<<", ">>", "{", "}", "(", ")", "[", "]", ";", ",", "<", ">", "+", "-", "*", "/", "%",
    "&", "|", "^", "!", "~", "?",
];
const PUNCTS_TAIL: [&str; 4] = [":", "=", ".", "#"];

/// Keywords after which a `/` starts a regular expression.
const REGEX_AFTER_WORDS: [&str; 14] = [
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    ) || is_line_terminator(c)
}

pub(crate) fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_part(c: char) -> bool {
    is_ident_start(c)
        || c.is_ascii_digit()
        || c == '\u{200c}'
        || c == '\u{200d}'
        || (!c.is_ascii() && c.is_alphanumeric())
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    mode: Mode,
    tokens: Vec<Token>,
    depth: Vec<(char, usize)>,
}

/// Tokenizes `src`. Errors name the line and column.
pub(crate) fn tokenize(src: &str, mode: Mode) -> Result<Vec<Token>, String> {
    let mut lx = Lexer {
        src,
        pos: 0,
        mode,
        tokens: Vec::new(),
        depth: Vec::new(),
    };
    lx.run()?;
    if let Some(&(open, at)) = lx.depth.last() {
        return Err(lx.err_at(at, &format!("'{open}' is never closed")));
    }
    Ok(lx.tokens)
}

impl Lexer<'_> {
    fn err_at(&self, offset: usize, msg: &str) -> String {
        let (line, col) = line_col(self.src, offset);
        format!("line {line}, column {col}: {msg}")
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.tokens.push(Token {
            tok,
            start,
            end: self.pos,
        });
    }

    fn regex_allowed(&self) -> bool {
        match self.tokens.last().map(|t| &t.tok) {
            None => true,
            Some(Tok::Punct(p)) => !matches!(*p, ")" | "]"),
            Some(Tok::Ident(w)) => REGEX_AFTER_WORDS.contains(&w.as_str()),
            Some(_) => false,
        }
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if is_js_whitespace(c) {
                self.pos += c.len_utf8();
            } else if self.rest().starts_with("//") {
                let len = self
                    .rest()
                    .find(is_line_terminator)
                    .unwrap_or(self.rest().len());
                self.pos += len;
            } else if self.rest().starts_with("/*") {
                let Some(end) = self.rest()[2..].find("*/") else {
                    return Err(self.err_at(start, "unterminated comment"));
                };
                self.pos += end + 4;
            } else if self.rest().starts_with("$${") {
                let name = self.braced_name(start, 3)?;
                self.push(Tok::Global(name), start);
            } else if self.rest().starts_with("${") {
                let name = self.braced_name(start, 2)?;
                self.push(Tok::Var(name), start);
            } else if c == '$'
                && self.mode == Mode::Expression
                && self.rest()[1..].starts_with(|d: char| d.is_ascii_digit())
            {
                let digits: String = self.rest()[1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                self.pos += 1 + digits.len();
                let n = digits
                    .parse::<usize>()
                    .map_err(|_| self.err_at(start, "argument number too large"))?;
                self.push(Tok::Arg(n), start);
            } else if c == '&' && self.mode == Mode::Expression && self.helper(start)? {
                // pushed by helper()
            } else if is_ident_start(c) {
                let len = self
                    .rest()
                    .find(|ch: char| !is_ident_part(ch))
                    .unwrap_or(self.rest().len());
                let word = self.rest()[..len].to_string();
                self.pos += len;
                self.push(Tok::Ident(word), start);
            } else if c == '\\' {
                return Err(self.err_at(start, "escape sequences in identifiers are not supported"));
            } else if c.is_ascii_digit()
                || (c == '.' && self.rest()[1..].starts_with(|d: char| d.is_ascii_digit()))
            {
                self.number(start)?;
            } else if c == '"' || c == '\'' {
                self.string(start, c)?;
            } else if c == '`' {
                self.template(start)?;
            } else if c == '/' && self.regex_allowed() {
                self.regex(start)?;
            } else {
                self.punct(start, c)?;
            }
        }
        Ok(())
    }

    fn braced_name(&mut self, start: usize, skip: usize) -> Result<String, String> {
        let after = start + skip;
        let Some(close) = self.src[after..].find('}') else {
            return Err(self.err_at(start, "'${' without a closing '}'"));
        };
        let name = &self.src[after..after + close];
        if name.trim().is_empty() {
            return Err(self.err_at(start, "empty variable name in '${}'"));
        }
        self.pos = after + close + 1;
        Ok(name.to_string())
    }

    /// `&name(arg)`: the argument is raw text up to the first `)`, as in the original.
    fn helper(&mut self, start: usize) -> Result<bool, String> {
        let after = &self.src[start + 1..];
        let Some(name) = HELPERS
            .iter()
            .find(|h| after.starts_with(*h) && after[h.len()..].starts_with('('))
        else {
            return Ok(false);
        };
        let arg_start = start + 1 + name.len() + 1;
        let Some(close) = self.src[arg_start..].find(')') else {
            return Err(self.err_at(start, &format!("'&{name}(' without a closing ')'")));
        };
        let arg = self.src[arg_start..arg_start + close].to_string();
        self.pos = arg_start + close + 1;
        self.push(Tok::Helper { name, arg }, start);
        Ok(true)
    }

    fn number(&mut self, start: usize) -> Result<(), String> {
        let len = self
            .rest()
            .char_indices()
            .find(|&(i, ch)| {
                !(ch.is_ascii_alphanumeric()
                    || ch == '.'
                    || ch == '_'
                    || ((ch == '+' || ch == '-')
                        && i > 0
                        && matches!(self.rest().as_bytes()[i - 1], b'e' | b'E')
                        && !self.rest()[..i].starts_with("0x")
                        && !self.rest()[..i].starts_with("0X")))
            })
            .map_or(self.rest().len(), |(i, _)| i);
        let tok = match parse_number_literal(&self.rest()[..len]) {
            Some(v) => Tok::Num(v),
            None => Tok::OtherNum,
        };
        self.pos += len;
        self.push(tok, start);
        Ok(())
    }

    fn string(&mut self, start: usize, quote: char) -> Result<(), String> {
        let mut units: Vec<u16> = Vec::new();
        let mut native = true;
        let mut chars = self.src[start + 1..].char_indices();
        loop {
            let Some((i, ch)) = chars.next() else {
                return Err(self.err_at(start, "unterminated string literal"));
            };
            if ch == quote {
                self.pos = start + 1 + i + 1;
                break;
            }
            if ch == '\n' || ch == '\r' {
                return Err(self.err_at(start, "unterminated string literal"));
            }
            if ch != '\\' {
                let mut buf = [0u16; 2];
                units.extend_from_slice(ch.encode_utf16(&mut buf));
                continue;
            }
            let Some((_, esc)) = chars.next() else {
                return Err(self.err_at(start, "unterminated string literal"));
            };
            match esc {
                'n' => units.push(0x0a),
                't' => units.push(0x09),
                'r' => units.push(0x0d),
                'b' => units.push(0x08),
                'f' => units.push(0x0c),
                'v' => units.push(0x0b),
                '\r' => {
                    // line continuation; "\r\n" counts as one
                    let mut look = chars.clone();
                    if let Some((_, '\n')) = look.next() {
                        chars = look;
                    }
                }
                '\n' | '\u{2028}' | '\u{2029}' => {}
                'x' => {
                    let hex: String = chars.clone().take(2).map(|(_, c)| c).collect();
                    let v = (hex.len() == 2)
                        .then(|| u16::from_str_radix(&hex, 16).ok())
                        .flatten()
                        .ok_or_else(|| self.err_at(start, "invalid \\x escape"))?;
                    chars.nth(1);
                    units.push(v);
                }
                'u' => {
                    let rest = chars.as_str();
                    if let Some(inner) = rest.strip_prefix('{') {
                        let close = inner
                            .find('}')
                            .ok_or_else(|| self.err_at(start, "invalid \\u{} escape"))?;
                        let cp = u32::from_str_radix(&inner[..close], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.err_at(start, "invalid \\u{} escape"))?;
                        let mut buf = [0u16; 2];
                        units.extend_from_slice(cp.encode_utf16(&mut buf));
                        for _ in 0..close + 2 {
                            chars.next();
                        }
                    } else {
                        let v = rest
                            .get(..4)
                            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                            .and_then(|h| u16::from_str_radix(h, 16).ok())
                            .ok_or_else(|| self.err_at(start, "invalid \\u escape"))?;
                        chars.nth(3);
                        units.push(v);
                    }
                }
                '0' if !chars
                    .clone()
                    .next()
                    .is_some_and(|(_, c)| c.is_ascii_digit()) =>
                {
                    units.push(0)
                }
                '0'..='9' => native = false, // legacy octal: left to the engine
                other => {
                    let mut buf = [0u16; 2];
                    units.extend_from_slice(other.encode_utf16(&mut buf));
                }
            }
        }
        let value = if native {
            String::from_utf16(&units).ok()
        } else {
            None
        };
        self.push(Tok::Str(value), start);
        Ok(())
    }

    fn template(&mut self, start: usize) -> Result<(), String> {
        let mut subs = Vec::new();
        let mut i = start + 1;
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(i) {
                None => return Err(self.err_at(start, "unterminated template literal")),
                Some(b'`') => break,
                Some(b'\\') => i += 2,
                Some(b'$') if bytes.get(i + 1) == Some(&b'{') => {
                    let Some(close) = self.src[i..].find('}') else {
                        return Err(self.err_at(i, "'${' without a closing '}'"));
                    };
                    let name = self.src[i + 2..i + close].to_string();
                    if name.trim().is_empty() {
                        return Err(self.err_at(i, "empty variable name in '${}'"));
                    }
                    subs.push((i, i + close + 1, name));
                    i += close + 1;
                }
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        self.push(Tok::Template(subs), start);
        Ok(())
    }

    fn regex(&mut self, start: usize) -> Result<(), String> {
        let mut in_class = false;
        let mut chars = self.src[start + 1..].char_indices();
        let body_end = loop {
            let Some((i, ch)) = chars.next() else {
                return Err(self.err_at(start, "unterminated regular expression"));
            };
            if is_line_terminator(ch) {
                return Err(self.err_at(start, "unterminated regular expression"));
            }
            match ch {
                '\\' if chars.next().is_none_or(|(_, c)| is_line_terminator(c)) => {
                    return Err(self.err_at(start, "unterminated regular expression"));
                }
                '[' => in_class = true,
                ']' => in_class = false,
                '/' if !in_class => break start + 1 + i,
                _ => {}
            }
        };
        let body = self.src[start + 1..body_end].to_string();
        self.pos = body_end + 1;
        let flags_len = self
            .rest()
            .find(|ch: char| !is_ident_part(ch))
            .unwrap_or(self.rest().len());
        let flags = self.rest()[..flags_len].to_string();
        self.pos += flags_len;
        self.push(Tok::Regex { body, flags }, start);
        Ok(())
    }

    fn punct(&mut self, start: usize, c: char) -> Result<(), String> {
        let rest = self.rest();
        let mut p = PUNCTS
            .iter()
            .chain(PUNCTS_TAIL.iter())
            .find(|p| rest.starts_with(*p))
            .copied();
        // `a?.5:1` is a conditional followed by a number, not optional chaining
        if p == Some("?.") && rest[2..].starts_with(|d: char| d.is_ascii_digit()) {
            p = Some("?");
        }
        let Some(p) = p else {
            return Err(self.err_at(start, &format!("unexpected character '{c}'")));
        };
        match p {
            "(" | "[" | "{" => self.depth.push((p.chars().next().unwrap_or('('), start)),
            ")" | "]" | "}" => {
                let want = match p {
                    ")" => '(',
                    "]" => '[',
                    _ => '{',
                };
                match self.depth.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        let (l, c) = line_col(self.src, at);
                        return Err(self.err_at(
                            start,
                            &format!(
                                "'{p}' does not match the '{open}' opened at line {l}, column {c}"
                            ),
                        ));
                    }
                    None => {
                        return Err(
                            self.err_at(start, &format!("'{p}' without an opening bracket"))
                        );
                    }
                }
            }
            _ => {}
        }
        self.pos += p.len();
        self.push(Tok::Punct(p), start);
        Ok(())
    }
}

/// Parses a numeric literal as JavaScript does (decimal, `0x`, `0o`, `0b`); `None` for
/// forms the native evaluator leaves to the engine (BigInt, `_` separators, legacy octal)
/// and for malformed text (the engine reports the syntax error).
pub(crate) fn parse_number_literal(text: &str) -> Option<f64> {
    let radix_body = |p: &str| text.get(2..).filter(|_| text[..2].eq_ignore_ascii_case(p));
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = radix_body(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            return Some(digits_to_f64(digits, radix));
        }
    }
    let b = text.as_bytes();
    if b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    if !is_decimal_literal(text) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// `digits` are valid in `radix`; large values round like JavaScript (via f64 steps).
pub(crate) fn digits_to_f64(digits: &str, radix: u32) -> f64 {
    if let Ok(v) = u64::from_str_radix(digits, radix) {
        if v < (1u64 << 53) {
            return v as f64;
        }
    }
    if radix == 10 {
        return digits.parse::<f64>().unwrap_or(f64::NAN);
    }
    // Power-of-two radixes: exact rounding from the big integer (u128 is enough up to
    // 128 bits; beyond that the f64 accumulation is within JS's allowed approximation).
    if let Ok(v) = u128::from_str_radix(digits, radix) {
        return v as f64;
    }
    digits.chars().fold(0.0, |acc, c| {
        acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
    })
}

/// StrUnsignedDecimalLiteral without sign: `1`, `1.`, `.5`, `1.5e-3`.
pub(crate) fn is_decimal_literal(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}
