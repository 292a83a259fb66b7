//! JavaScript value semantics for the native evaluator: ToNumber, ToString (number
//! formatting), equality, relational comparison, truthiness, and the UTF-16 view of strings
//! that `length`, `indexOf`, `substring`… are defined on.

use std::borrow::Cow;

use super::lexer::{digits_to_f64, is_decimal_literal, is_js_whitespace};

/// A primitive value (plus the string arrays `split` produces).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Val<'a> {
    #[default]
    Undefined,
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<String>),
}

impl Val<'_> {
    pub fn truthy(&self) -> bool {
        match self {
            Val::Undefined | Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(n) => !(n.is_nan() || *n == 0.0),
            Val::Str(s) => !s.is_empty(),
            Val::Arr(_) => true,
        }
    }

    pub fn to_number(&self) -> f64 {
        match self {
            Val::Undefined => f64::NAN,
            Val::Null => 0.0,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Num(n) => *n,
            Val::Str(s) => str_to_number(s),
            Val::Arr(a) => str_to_number(&a.join(",")),
        }
    }

    pub fn to_str(&self) -> Cow<'_, str> {
        match self {
            Val::Undefined => Cow::Borrowed("undefined"),
            Val::Null => Cow::Borrowed("null"),
            Val::Bool(true) => Cow::Borrowed("true"),
            Val::Bool(false) => Cow::Borrowed("false"),
            Val::Num(n) => Cow::Owned(number_to_string(*n)),
            Val::Str(s) => Cow::Borrowed(s),
            Val::Arr(a) => Cow::Owned(a.join(",")),
        }
    }

    /// The same value, owning its text.
    pub fn into_static(self) -> Val<'static> {
        match self {
            Val::Undefined => Val::Undefined,
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Num(n) => Val::Num(n),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Arr(a) => Val::Arr(a),
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Val::Str(s) => s.into_owned(),
            other => other.to_str().into_owned(),
        }
    }

    pub fn type_of(&self) -> &'static str {
        match self {
            Val::Undefined => "undefined",
            Val::Null | Val::Arr(_) => "object",
            Val::Bool(_) => "boolean",
            Val::Num(_) => "number",
            Val::Str(_) => "string",
        }
    }

    /// ToPrimitive: arrays become their joined text.
    fn primitive(&self) -> Cow<'_, Val<'_>> {
        match self {
            Val::Arr(a) => Cow::Owned(Val::Str(Cow::Owned(a.join(",")))),
            other => Cow::Borrowed(other),
        }
    }
}

/// `===`
pub(crate) fn strict_equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Undefined, Val::Undefined) | (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        // every array an expression produces is a fresh object
        _ => false,
    }
}

/// `==` (IsLooselyEqual)
pub(crate) fn loose_equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Undefined | Val::Null, Val::Undefined | Val::Null) => true,
        (Val::Undefined | Val::Null, _) | (_, Val::Undefined | Val::Null) => false,
        (Val::Arr(_), Val::Arr(_)) => false,
        (Val::Arr(_), _) => loose_equals(&a.primitive(), b),
        (_, Val::Arr(_)) => loose_equals(a, &b.primitive()),
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        _ => a.to_number() == b.to_number(),
    }
}

/// The relational operators. `None` is JavaScript's `undefined` result (a NaN operand),
/// which makes every comparison false.
pub(crate) fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    let (pa, pb) = (a.primitive(), b.primitive());
    if let (Val::Str(x), Val::Str(y)) = (&*pa, &*pb) {
        return Some(cmp_utf16(x, y));
    }
    pa.to_number().partial_cmp(&pb.to_number())
}

/// JavaScript orders strings by UTF-16 code units, which differs from UTF-8 byte order
/// only above U+FFFF.
pub(crate) fn cmp_utf16(x: &str, y: &str) -> std::cmp::Ordering {
    if x.is_ascii() && y.is_ascii() {
        return x.cmp(y);
    }
    x.encode_utf16().cmp(y.encode_utf16())
}

pub(crate) fn trim_js(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// ToNumber applied to a string (StringToNumber).
pub(crate) fn str_to_number(s: &str) -> f64 {
    // The common case, a short run of ASCII digits ("3", "2026"), without the float parser:
    // up to 15 digits the integer is exact in an f64.
    if !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0')) as f64;
    }
    let t = trim_js(s);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if t.len() > 2 && t.as_bytes()[..2].eq_ignore_ascii_case(prefix.as_bytes()) {
            let digits = &t[2..];
            return if digits.chars().all(|c| c.is_digit(radix)) {
                digits_to_f64(digits, radix)
            } else {
                f64::NAN
            };
        }
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(body) {
        return f64::NAN;
    }
    sign * body.parse::<f64>().unwrap_or(f64::NAN)
}

/// Number::toString(10): shortest round-trip digits laid out as ECMA-262 prescribes
/// (`-0` prints as `0`, NaN and the infinities by name).
pub(crate) fn number_to_string(n: f64) -> String {
    ryu_js::Buffer::new().format(n).to_string()
}

/// ToIntegerOrInfinity
pub(crate) fn to_integer(n: f64) -> f64 {
    if n.is_nan() { 0.0 } else { n.trunc() + 0.0 }
}

/// ToInt32
pub(crate) fn to_int32(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    let m = n.trunc().rem_euclid(4_294_967_296.0);
    (m as u32) as i32
}

/// `parseInt(string, radix)`
pub(crate) fn parse_int(s: &str, radix: Option<f64>) -> f64 {
    let t = s.trim_start_matches(is_js_whitespace);
    let (sign, mut t) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let mut r = radix.map_or(0, to_int32);
    let mut strip = true;
    if r != 0 {
        if !(2..=36).contains(&r) {
            return f64::NAN;
        }
        if r != 16 {
            strip = false;
        }
    } else {
        r = 10;
    }
    if strip && t.len() >= 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        t = &t[2..];
        r = 16;
    }
    let radix = r as u32;
    let len = t.find(|c: char| !c.is_digit(radix)).unwrap_or(t.len());
    if len == 0 {
        return f64::NAN;
    }
    sign * digits_to_f64(&t[..len], radix)
}

/// `parseFloat(string)`
pub(crate) fn parse_float(s: &str) -> f64 {
    let t = s.trim_start_matches(is_js_whitespace);
    let b = t.as_bytes();
    let mut i = 0;
    let sign = match b.first() {
        Some(b'-') => {
            i = 1;
            -1.0
        }
        Some(b'+') => {
            i = 1;
            1.0
        }
        _ => 1.0,
    };
    if t[i..].starts_with("Infinity") {
        return sign * f64::INFINITY;
    }
    let start = i;
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        frac_digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac_digits > 0 || int_digits > 0 {
            i += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return f64::NAN;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp > 0 {
            i = j + exp;
        }
    }
    sign * t[start..i].parse::<f64>().unwrap_or(f64::NAN)
}

/// A string as JavaScript sees it: a sequence of UTF-16 code units.
pub(crate) enum Units<'s> {
    Ascii(&'s [u8]),
    Wide(Vec<u16>),
}

impl<'s> Units<'s> {
    pub fn of(s: &'s str) -> Self {
        if s.is_ascii() {
            Units::Ascii(s.as_bytes())
        } else {
            Units::Wide(s.encode_utf16().collect())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Units::Ascii(b) => b.len(),
            Units::Wide(w) => w.len(),
        }
    }

    pub fn at(&self, i: usize) -> u16 {
        match self {
            Units::Ascii(b) => u16::from(b[i]),
            Units::Wide(w) => w[i],
        }
    }

    /// Text of `[from, to)`; `None` when the cut splits a surrogate pair (a lone
    /// surrogate has no Rust string form: the caller leaves such cases to the engine).
    pub fn slice(&self, from: usize, to: usize) -> Option<String> {
        let to = to.min(self.len());
        if from >= to {
            return Some(String::new());
        }
        match self {
            Units::Ascii(b) => Some(String::from_utf8_lossy(&b[from..to]).into_owned()),
            Units::Wide(w) => String::from_utf16(&w[from..to]).ok(),
        }
    }

    /// First index `>= from` where `needle` occurs.
    pub fn find(&self, needle: &Units, from: usize) -> Option<usize> {
        let (n, m) = (self.len(), needle.len());
        if m == 0 {
            return Some(from.min(n));
        }
        (from..=n.checked_sub(m)?).find(|&i| (0..m).all(|k| self.at(i + k) == needle.at(k)))
    }

    /// Last index `<= from` where `needle` occurs.
    pub fn rfind(&self, needle: &Units, from: usize) -> Option<usize> {
        let (n, m) = (self.len(), needle.len());
        let last = n.checked_sub(m)?.min(from);
        (0..=last)
            .rev()
            .find(|&i| (0..m).all(|k| self.at(i + k) == needle.at(k)))
    }

    pub fn matches_at(&self, needle: &Units, at: usize) -> bool {
        at + needle.len() <= self.len()
            && (0..needle.len()).all(|k| self.at(at + k) == needle.at(k))
    }
}

/// Clamp a relative/absolute position to `[0, len]` the way `slice`/`substr` do.
pub(crate) fn relative_index(pos: f64, len: usize) -> usize {
    let len_f = len as f64;
    let p = to_integer(pos);
    if p < 0.0 {
        (len_f + p).max(0.0) as usize
    } else {
        p.min(len_f) as usize
    }
}

/// Clamp an absolute position to `[0, len]` (`substring`, `indexOf`, …).
pub(crate) fn clamp_index(pos: f64, len: usize) -> usize {
    to_integer(pos).clamp(0.0, len as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_in_javascript() {
        for (n, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123e-20, "1.23e-18"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (4294967296.5, "4294967296.5"),
            (f64::INFINITY, "Infinity"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-7"),
            (9007199254740993.0, "9007199254740992"),
            // halfway between two shortest forms: JavaScript engines print the even one
            (255710272925744.0 + 0.125, "255710272925744.12"),
            (684908567976417.0 + 0.25, "684908567976417.2"),
        ] {
            assert_eq!(number_to_string(n), text, "{n:e}");
        }
    }

    #[test]
    fn strings_convert_to_numbers_as_in_javascript() {
        for (s, n) in [
            ("", 0.0),
            ("  \n\t ", 0.0),
            ("42", 42.0),
            (" 42 ", 42.0),
            ("\u{a0}42\u{feff}", 42.0),
            ("+1.5", 1.5),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("0x1F", 31.0),
            ("0b101", 5.0),
            ("0o17", 15.0),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(str_to_number(s), n, "{s:?}");
        }
        for s in [
            "abc", "1_000", "0x", "-0x10", "1e", "inf", "infinity", "NaN", "1 2", "\u{85}1",
        ] {
            assert!(str_to_number(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn parse_int_and_parse_float() {
        assert_eq!(parse_int("  12abc", None), 12.0);
        assert_eq!(parse_int("0x1A", None), 26.0);
        assert_eq!(parse_int("1A", Some(16.0)), 26.0);
        assert_eq!(parse_int("0x1A", Some(10.0)), 0.0);
        assert_eq!(parse_int("-17", None), -17.0);
        assert!(parse_int("abc", None).is_nan());
        assert!(parse_int("1", Some(1.0)).is_nan());
        assert_eq!(parse_int("9007199254740993", None), 9007199254740992.0);
        assert_eq!(parse_float("2.5abc"), 2.5);
        assert_eq!(parse_float(" -1e3x"), -1000.0);
        assert_eq!(parse_float("1e"), 1.0);
        assert_eq!(parse_float(".5"), 0.5);
        assert_eq!(parse_float("-Infinityx"), f64::NEG_INFINITY);
        assert!(parse_float("x1").is_nan());
        assert!(parse_float(".").is_nan());
    }

    #[test]
    fn utf16_views() {
        let s = Units::of("a😀b");
        assert_eq!(s.len(), 4);
        assert_eq!(s.slice(1, 3).as_deref(), Some("😀"));
        assert_eq!(
            s.slice(1, 2),
            None,
            "half a surrogate pair has no Rust form"
        );
        assert_eq!(s.find(&Units::of("b"), 0), Some(3));
        assert_eq!(cmp_utf16("\u{ffff}", "😀"), std::cmp::Ordering::Greater);
    }
}
