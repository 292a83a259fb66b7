//! How FreeSWITCH's `switch_ivr_originate` takes a dial string apart, ported from its C
//! (switch_ivr_originate.c, switch_event_create_brackets, switch_separate_string,
//! switch_find_end_paren in FreeSWITCH 1.10/1.11), so the fake core sees exactly the legs and
//! variables the real core would. Tests assert on this parse: a hostile value that opens a
//! new leg, a new variable block or an enterprise (`:_:`) split shows up here.
//!
//! Bytes, not chars: the C works on bytes and so does this port.

use serde_json::{Value, json};

/// The originate string's enterprise delimiter (`SWITCH_ENT_ORIGINATE_DELIM`).
const ENTERPRISE_DELIM: &[u8] = b":_:";
const ESCAPE_META: u8 = b'\\';
/// The two bytes originate substitutes for commas inside `[...]` before splitting legs.
const QUOTED_ESC_COMMA: u8 = 1;
const UNQUOTED_ESC_COMMA: u8 = 2;

/// Variables in order, duplicates kept.
type Vars = Vec<(String, String)>;

/// One leg: its `[...]` variables (in order, duplicates kept) and what is dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub vars: Vec<(String, String)>,
    pub target: String,
}

/// One `switch_ivr_originate` string without `:_:`: `<ultra>{global}leg,leg|leg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    pub ultra: Vec<(String, String)>,
    pub global: Vec<(String, String)>,
    /// Failover groups (`|`), each a list of simultaneous legs (`,`).
    pub groups: Vec<Vec<Leg>>,
    /// Why FreeSWITCH would refuse this part ("Parse Error!"), if it would.
    pub error: Option<String>,
}

/// The whole string: one [`Originate`] per `:_:` part (one when there is no `:_:`), plus the
/// `<...>` variables enterprise originate parses before splitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialString {
    pub enterprise_ultra: Vec<(String, String)>,
    pub parts: Vec<Originate>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::from(
        pairs
            .iter()
            .map(|(k, v)| json!([k, v]))
            .collect::<Vec<Value>>(),
    )
}

impl DialString {
    /// `{"enterprise": bool, "enterprise_ultra": [[k, v]..], "parts": [{"ultra", "global",
    /// "groups": [[{"vars": [[k, v]..], "target"}]]}]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "enterprise": self.parts.len() > 1,
            "enterprise_ultra": pairs_json(&self.enterprise_ultra),
            "parts": self.parts.iter().map(|p| json!({
                "error": p.error,
                "ultra": pairs_json(&p.ultra),
                "global": pairs_json(&p.global),
                "groups": p.groups.iter().map(|g| g.iter().map(|l| json!({
                    "vars": pairs_json(&l.vars),
                    "target": l.target,
                })).collect::<Vec<Value>>()).map(Value::from).collect::<Vec<Value>>(),
            })).collect::<Vec<Value>>(),
        })
    }
}

/// `switch_find_end_paren`: index of the matching close, skipping leading spaces.
fn find_end_paren(s: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut i = 0;
    while i < s.len() && s[i] == b' ' {
        i += 1;
    }
    if i >= s.len() || s[i] != open {
        return None;
    }
    let mut depth = 1;
    for (e, &c) in s.iter().enumerate().skip(i + 1) {
        if c == open && open != close {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(e);
            }
        }
    }
    None
}

fn unescape_char(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b's' => b' ',
        other => other,
    }
}

/// `cleanup_separated_string`: strips quotes, escapes, leading and trailing spaces.
fn cleanup(s: &[u8], delim: u8) -> Vec<u8> {
    let mut i = 0;
    while i < s.len() && s[i] == b' ' {
        i += 1;
    }
    let start = i;
    let mut out = Vec::with_capacity(s.len());
    let mut end: Option<usize> = None;
    let mut inside_quotes = false;
    while i < s.len() {
        let c = s[i];
        let mut escaped = false;
        if c == ESCAPE_META {
            let next = s.get(i + 1).copied().unwrap_or(0);
            let direct = next == b'\''
                || next == b'"'
                || (delim != 0 && next == delim)
                || next == ESCAPE_META;
            if direct || unescape_char(next) != next {
                let e = if direct { next } else { unescape_char(next) };
                i += 1;
                out.push(e);
                end = Some(out.len());
                escaped = true;
            }
        }
        if !escaped {
            if c == b'\'' && (inside_quotes || s[i + 1..].contains(&b'\'')) {
                inside_quotes = !inside_quotes;
                if inside_quotes {
                    end = Some(out.len());
                }
            } else {
                out.push(c);
                if c != b' ' || inside_quotes {
                    end = Some(out.len());
                }
            }
        }
        i += 1;
    }
    match end {
        Some(e) => {
            out.truncate(e);
            out
        }
        // Nothing but spaces was copied, in place: C leaves the string as it was.
        None => s[start..].to_vec(),
    }
}

/// `switch_separate_string` for a non-space delimiter, at most `max` parts.
fn separate(buf: &[u8], delim: u8, max: usize) -> Vec<Vec<u8>> {
    let (buf, delim) = if buf.len() >= 4 && buf.starts_with(b"^^") {
        (&buf[3..], buf[2])
    } else {
        (buf, delim)
    };
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let mut in_token = false;
    let mut inside_quotes = false;
    while i < buf.len() {
        if !in_token {
            // As in C, the scan stops once the last allowed part has started: it runs to
            // the end of the string.
            if starts.len() >= max {
                break;
            }
            starts.push((i, buf.len()));
            in_token = true;
            if starts.len() >= max {
                break;
            }
            continue;
        }
        let c = buf[i];
        if c == ESCAPE_META {
            i += 1;
        } else if c == b'\'' && (inside_quotes || buf[i + 1..].contains(&b'\'')) {
            inside_quotes = !inside_quotes;
        } else if c == delim && !inside_quotes {
            if let Some(last) = starts.last_mut() {
                last.1 = i;
            }
            in_token = false;
        }
        i += 1;
    }
    starts
        .into_iter()
        .map(|(s, e)| cleanup(&buf[s..e.min(buf.len())], delim))
        .collect()
}

/// `switch_event_create_brackets(data, open, close, sep)`: the variables of the leading
/// block and the rest of the string after it.
fn brackets(data: &[u8], open: u8, close: u8, sep: u8) -> Result<(Vars, &[u8]), String> {
    let end = find_end_paren(data, open, close).ok_or_else(|| {
        format!(
            "Parse Error! no closing {:?} in {:?}",
            close as char,
            lossy(data)
        )
    })?;
    let open_at = data.iter().position(|&c| c == open).unwrap_or(0);
    let mut body = &data[open_at + 1..end];
    let mut sep = sep;
    if body.len() >= 3 && body.starts_with(b"^^") {
        sep = body[2];
        body = &body[3..];
    }
    let mut vars = Vec::new();
    for var in separate(body, sep, 1024) {
        let kv = separate(&var, b'=', 2);
        if kv.len() == 2 {
            vars.push((lossy(&kv[0]), lossy(&kv[1])));
        }
    }
    Ok((vars, &data[end + 1..]))
}

fn skip_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

fn parse_originate(data: &[u8]) -> Result<Originate, String> {
    let mut data = skip_spaces(data);
    let mut ultra = Vec::new();
    while data.first() == Some(&b'<') {
        let (vars, rest) = brackets(data, b'<', b'>', b',')?;
        ultra.extend(vars);
        data = rest;
    }
    let mut global = Vec::new();
    while data.first() == Some(&b'{') {
        let (vars, rest) = brackets(data, b'{', b'}', b',')?;
        global.extend(vars);
        data = rest;
    }
    let data = skip_spaces(data);
    if data.is_empty() {
        return Err("No origination URL specified!".into());
    }
    let mut groups = Vec::new();
    for mut pipe in separate(data, b'|', 1024) {
        mark_bracket_commas(&mut pipe);
        let mut legs = Vec::new();
        for peer in separate(&pipe, b',', 1024) {
            let mut peer: &[u8] = skip_spaces(&peer);
            let mut vars = Vec::new();
            let mut owned;
            while peer.first() == Some(&b'[') {
                let bend = find_end_paren(peer, b'[', b']').unwrap_or(peer.len());
                owned = peer.to_vec();
                for c in owned.iter_mut().take(bend).skip(1) {
                    if *c == QUOTED_ESC_COMMA {
                        *c = b',';
                    }
                }
                let (more, rest) = brackets(&owned, b'[', b']', UNQUOTED_ESC_COMMA)?;
                vars.extend(more);
                let consumed = owned.len() - rest.len();
                if consumed == 0 {
                    return Err("Parse Error! empty leg variables".into());
                }
                peer = &peer[consumed..];
            }
            legs.push(Leg {
                vars,
                target: lossy(peer),
            });
        }
        groups.push(legs);
    }
    Ok(Originate {
        ultra,
        global,
        groups,
        error: None,
    })
}

/// One enterprise part; a part FreeSWITCH cannot parse fails alone.
fn parse_part(data: &[u8]) -> Originate {
    parse_originate(data).unwrap_or_else(|e| Originate {
        ultra: Vec::new(),
        global: Vec::new(),
        groups: Vec::new(),
        error: Some(e),
    })
}

/// Originate's pass over one `|` group: commas inside `[...]` become markers so the `,`
/// split keeps per-leg variables together.
fn mark_bracket_commas(pipe: &mut [u8]) {
    let mut end: Option<usize> = None;
    let mut quoted = false;
    let mut alt = false;
    for p in 0..pipe.len() {
        if end.is_none() && pipe[p] == b'[' {
            end = find_end_paren(&pipe[p..], b'[', b']').map(|e| e + p);
            alt = pipe.get(p + 1) == Some(&b'^') && pipe.get(p + 2) == Some(&b'^');
            quoted = false;
        }
        if pipe[p] == b'\'' {
            quoted = !quoted;
        }
        if let Some(e) = end {
            if p < e && pipe[p] == b',' && p > 0 && pipe[p - 1] != ESCAPE_META {
                pipe[p] = if quoted || alt {
                    QUOTED_ESC_COMMA
                } else {
                    UNQUOTED_ESC_COMMA
                };
            }
            if p == e {
                end = None;
            }
        }
    }
}

/// Parses a dial string as `switch_ivr_originate` does.
pub fn parse(dial: &str) -> Result<DialString, String> {
    let bytes = dial.as_bytes();
    let is_enterprise = bytes
        .windows(ENTERPRISE_DELIM.len())
        .any(|w| w == ENTERPRISE_DELIM);
    if !is_enterprise {
        return Ok(DialString {
            enterprise_ultra: Vec::new(),
            parts: vec![parse_originate(bytes)?],
        });
    }
    let mut data = skip_spaces(bytes);
    let mut enterprise_ultra = Vec::new();
    while data.first() == Some(&b'<') {
        let (vars, rest) = brackets(data, b'<', b'>', b',')?;
        enterprise_ultra.extend(vars);
        data = skip_spaces(rest);
    }
    let mut parts = Vec::new();
    let mut rest = data;
    loop {
        let at = rest
            .windows(ENTERPRISE_DELIM.len())
            .position(|w| w == ENTERPRISE_DELIM);
        let (part, next) = match at {
            Some(i) => (&rest[..i], Some(&rest[i + ENTERPRISE_DELIM.len()..])),
            None => (rest, None),
        };
        parts.push(parse_part(part));
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    Ok(DialString {
        enterprise_ultra,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_failover_and_simultaneous_legs() {
        let d = parse("{a=1,b=2}[x=1]user/1000@d,user/1001@d|sofia/gateway/gw/555").unwrap();
        assert_eq!(d.parts.len(), 1);
        let p = &d.parts[0];
        assert_eq!(p.global, kv(&[("a", "1"), ("b", "2")]));
        assert_eq!(p.groups.len(), 2);
        assert_eq!(p.groups[0].len(), 2);
        assert_eq!(p.groups[0][0].vars, kv(&[("x", "1")]));
        assert_eq!(p.groups[0][0].target, "user/1000@d");
        assert_eq!(p.groups[0][1].target, "user/1001@d");
        assert_eq!(p.groups[1][0].target, "sofia/gateway/gw/555");
    }

    #[test]
    fn leg_variables_with_several_values() {
        let d = parse("[a=1,b=2]user/1000").unwrap();
        assert_eq!(d.parts[0].groups[0][0].vars, kv(&[("a", "1"), ("b", "2")]));
        assert_eq!(d.parts[0].groups[0].len(), 1);
    }

    #[test]
    fn escaped_and_quoted_values() {
        let d = parse(r"{a=x\,y,b='p q'}user/1").unwrap();
        assert_eq!(d.parts[0].global, kv(&[("a", "x,y"), ("b", "p q")]));
        // An unescaped comma in a global value starts a new variable, as in FreeSWITCH.
        let d = parse("{a=x,y=z}user/1").unwrap();
        assert_eq!(d.parts[0].global, kv(&[("a", "x"), ("y", "z")]));
        // An unescaped pipe in a target starts a new failover group.
        let d = parse("user/a|b").unwrap();
        assert_eq!(d.parts[0].groups.len(), 2);
    }

    #[test]
    fn enterprise_split_anywhere_in_the_string() {
        let d = parse("{v='x:_:y'}user/1").unwrap();
        assert_eq!(d.parts.len(), 2, "{d:?}");
        assert!(d.parts[0].error.is_some(), "{d:?}");
    }

    #[test]
    fn caret_delimiters() {
        let d = parse("{^^:a=1:b=2}user/1").unwrap();
        assert_eq!(d.parts[0].global, kv(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn missing_close_is_a_parse_error() {
        assert!(parse("{a=1user/1").is_err());
        assert!(parse("").is_err());
    }
}
