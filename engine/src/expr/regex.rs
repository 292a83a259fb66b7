//! Translation of JavaScript regular-expression literals to the `regex` crate, for the
//! native `.test()`. Only constructs whose meaning is the same in both are translated;
//! anything else (lookaround, back-references, the `m` flag, Annex-B leniencies…) makes the
//! expression run on the embedded engine.

use regex::{Regex, RegexBuilder};

/// JavaScript's `\s`.
const JS_SPACE: &str = r"\t\n\x0B\x0C\r \u{A0}\u{1680}\u{2000}-\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}";

pub(crate) fn translate(body: &str, flags: &str) -> Option<Regex> {
    let mut case_insensitive = false;
    let mut dot_all = false;
    let mut sticky = false;
    for f in flags.chars() {
        match f {
            'g' | 'd' | 'u' => {}
            'i' => case_insensitive = true,
            's' => dot_all = true,
            'y' => sticky = true,
            _ => return None, // m, v: different line/set semantics
        }
    }
    let mut out = String::with_capacity(body.len() + 16);
    let mut chars = body.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let e = chars.next()?;
                out.push_str(&escape(e, in_class, &mut chars)?);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // `[]` and `[^]` mean "nothing" / "anything" in JavaScript
                if chars.peek() == Some(&']') {
                    return None;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // the regex crate reads these as nested classes and set operations
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.peek() == Some(&'-') => return None,
            '.' if !in_class && !dot_all => out.push_str(r"[^\n\r\u{2028}\u{2029}]"),
            '(' if !in_class => {
                if chars.peek() == Some(&'?') {
                    let mut look = chars.clone();
                    look.next();
                    match look.next() {
                        Some(':') => {}
                        Some('<') if !matches!(look.next(), Some('=' | '!')) => {}
                        _ => return None, // lookahead / lookbehind
                    }
                }
                out.push('(');
            }
            // Rust would read `{` after an atom leniently differently; keep quantifiers
            // only (the builder rejects the rest, and the expression goes to the engine)
            _ => out.push(c),
        }
    }
    if in_class {
        return None;
    }
    let pattern = if sticky { format!(r"\A(?:{out})") } else { out };
    RegexBuilder::new(&pattern)
        .case_insensitive(case_insensitive)
        .dot_matches_new_line(dot_all)
        .size_limit(1 << 20)
        .build()
        .ok()
}

fn escape(
    e: char,
    in_class: bool,
    rest: &mut std::iter::Peekable<std::str::Chars>,
) -> Option<String> {
    let class = |set: &str, negated: bool| -> String {
        match (in_class, negated) {
            (true, false) => set.to_string(),
            (_, true) => format!("[^{set}]"),
            (false, false) => format!("[{set}]"),
        }
    };
    Some(match e {
        'd' => class("0-9", false),
        'D' => class("0-9", true),
        'w' => class("0-9A-Za-z_", false),
        'W' => class("0-9A-Za-z_", true),
        's' => class(JS_SPACE, false),
        'S' => class(JS_SPACE, true),
        'b' if in_class => r"\x08".to_string(),
        'b' => r"(?-u:\b)".to_string(),
        'B' if !in_class => r"(?-u:\B)".to_string(),
        'n' | 'r' | 't' | 'f' | 'v' => format!("\\{e}"),
        '0' if !rest.peek().is_some_and(char::is_ascii_digit) => r"\x00".to_string(),
        'x' => {
            let h: String = [rest.next()?, rest.next()?].iter().collect();
            u8::from_str_radix(&h, 16).ok()?;
            format!(r"\x{h}")
        }
        'u' => {
            let h: String = [rest.next()?, rest.next()?, rest.next()?, rest.next()?]
                .iter()
                .collect();
            let v = u32::from_str_radix(&h, 16).ok()?;
            char::from_u32(v)?; // surrogates: UTF-16 semantics, left to the engine
            format!(r"\u{{{h}}}")
        }
        c if c.is_ascii_punctuation() => regex::escape(&c.to_string()),
        // back-references, \c, \p without u, identity escapes of letters
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn javascript_classes_keep_their_meaning() {
        let digits = translate(r"^\d+$", "").unwrap();
        assert!(digits.is_match("0123"));
        assert!(!digits.is_match("١٢٣"), "\\d is ASCII in JavaScript");
        let word = translate(r"\bcat\b", "").unwrap();
        assert!(word.is_match("a cat."));
        assert!(!word.is_match("concatenate"));
        let dot = translate("^.$", "").unwrap();
        assert!(!dot.is_match("\r"), "'.' excludes line terminators");
        assert!(translate("^.$", "s").unwrap().is_match("\r"));
        let space = translate(r"^\s$", "").unwrap();
        assert!(space.is_match("\u{feff}"));
        assert!(!space.is_match("\u{85}"));
        assert!(translate("[a-c[]", "").unwrap().is_match("["));
        assert!(translate("^ab", "y").unwrap().is_match("abc"));
        assert!(
            !translate("b", "y").unwrap().is_match("abc"),
            "sticky anchors at 0"
        );
    }

    #[test]
    fn constructs_without_an_exact_translation_are_refused() {
        for (body, flags) in [
            ("(?=a)", ""),
            ("(?<!a)b", ""),
            (r"(a)\1", ""),
            ("^a", "m"),
            ("[^]", ""),
            ("[]", ""),
            (r"\cJ", ""),
            (r"\ud83d", ""),
            ("a{", ""),
            ("[a--b]", ""),
            ("x", "v"),
        ] {
            assert!(translate(body, flags).is_none(), "/{body}/{flags}");
        }
    }
}
