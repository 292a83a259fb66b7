//! How FreeSWITCH's `originate` (and so the `bridge` application) reads a dial string: which
//! legs it rings, in which order, with which channel variables. The fake core records this
//! reading for every originate, and the property tests hold `src/dial.rs` to it: a value that
//! opens a new leg, a new variable block or an enterprise part shows up here.
//!
//! This is a model written from the description below, not from FreeSWITCH's code. The points
//! marked *relied on* are the ones `src/dial.rs` builds on; the e2e suite sends hostile values
//! through a real FreeSWITCH's originate to confirm them. The rest is this model's reading of
//! syntax the module never produces.
//!
//! # The layers, from the outside in
//!
//! 1. **Enterprise parts.** If `:_:` occurs anywhere in the string (even inside a variable
//!    value) the originate is an enterprise one: its parts ring in parallel, each as an
//!    independent originate. First a leading `<…>` block (after spaces) is read as variables
//!    for every part; the rest is cut at every `:_:`. That cut is a plain search for the three
//!    characters: no quote, escape or bracket protects them. A part that cannot be read fails
//!    on its own; the other parts still ring. *(relied on: nothing makes `:_:` safe.)*
//! 2. **The variable blocks of one originate** (the whole string, or one enterprise part):
//!    after spaces, an optional `<…>` block, then an optional `{…}` block. Both hold variables
//!    for every leg of that originate. Anything else, including a `{…}` that comes later, is
//!    part of the legs.
//! 3. **Failover groups.** The rest is cut at every free `|` (free: neither escaped nor
//!    quoted, see below). A `[…]` block does not protect a `|`. The groups are tried in order
//!    until one of them answers. *(relied on.)*
//! 4. **Simultaneous legs.** Each group is cut at every free `,`, except for the commas inside
//!    the `[…]` block that opens a leg. All the legs of a group ring at once. *(relied on.)*
//! 5. **One leg:** spaces, an optional `[…]` block of variables for this leg alone, then what
//!    is dialled (the target). The target loses its quotes and escapes, and spaces at both
//!    ends.
//!
//! # Variable blocks
//!
//! A block opens with `<`, `{` or `[` and ends at its matching close: the first close at
//! which the number of opens seen so far, of that same kind, equals the number of closes.
//! Quotes and backslashes play no part in this count. A `]` inside a quoted value still ends
//! a `[` block, and a `[` inside a value needs a `]` of its own. *(relied on: why `src/dial.rs`
//! refuses brackets in leg values.)* A block without a matching close is a parse error.
//!
//! Inside, `name=value` items are separated by free commas. A block whose content starts with
//! `^^` followed by a character X uses X as its separator instead (`{^^;a=1;b=2}`). Each item
//! is cut at its first free `=`. An item without one, or with an empty name, is ignored. Names
//! lose the spaces around them, and so do values (seen on a real FreeSWITCH: `[v=  x]` sets
//! `x`; an earlier version of this model kept leading spaces). Both lose their quotes and
//! escapes. Variables keep their order, and a name given twice is kept twice.
//!
//! # Escapes and quotes
//!
//! - A backslash makes the next character ordinary: it splits nothing and opens or closes
//!   nothing, at every layer. The backslash itself is dropped only when the final value or
//!   target is read. So `\,` in a `[…]` value ends up as a comma in the value, and `\|` as a
//!   bar. *(relied on.)* A backslash at the very end stays.
//! - Single quotes pair up from left to right; an escaped quote does not count. Nothing
//!   between a pair splits, and the pair is dropped when the value is read. A quote without a
//!   partner is an ordinary character. Quote pairing runs over the whole text being cut, so a
//!   pair can span a `[…]` block. FreeSWITCH's own quote handling differs between its passes,
//!   in particular inside `[…]`, where a quote changes which commas it protects. Because of
//!   that, `src/dial.rs` never lets a quote into the string. This model's reading of quotes is
//!   a plausible one, not a confirmed one.
//! - Spaces count only as ASCII spaces. Values keep any other whitespace.
//!
//! # What originate refuses
//!
//! - An empty dial string (nothing but spaces): [`parse`] returns `Err`.
//! - An enterprise `<…>` block without its `>`: `Err` as well, because nothing rings.
//! - Within one originate (the whole string, or one enterprise part), any of these gives
//!   FreeSWITCH's "Parse Error!" and no leg of that originate rings ([`Originate::error`]):
//!   an unterminated `<`, `{` or leg `[` block; nothing left to dial after the blocks.
//! - A byte 0x01 or 0x02 in the legs. FreeSWITCH briefly uses these bytes to stand for the
//!   commas of `[…]` blocks while it cuts the legs, so such a byte could come back as a comma.
//!   This model marks the originate as failed rather than guess.
//!
//! An empty leg (`a,,b`, or a trailing `|`) is kept, with an empty target. Dialling it fails.

use serde_json::{Value, json};

/// The separator of enterprise parts.
pub const ENTERPRISE_DELIMITER: &str = ":_:";

/// Channel variables in the order given, duplicates kept.
pub type Variables = Vec<(String, String)>;

/// One leg: its own `[…]` variables and what is dialled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Leg {
    pub vars: Variables,
    pub target: String,
}

/// One originate: the whole dial string, or one enterprise part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Originate {
    /// The `<…>` variables.
    pub ultra: Variables,
    /// The `{…}` variables.
    pub global: Variables,
    /// Failover groups (`|`), each a list of legs that ring at once (`,`).
    pub groups: Vec<Vec<Leg>>,
    /// Why originate refuses this part ("Parse Error!"), if it does. No leg of it rings, and
    /// `groups` is then empty.
    pub error: Option<String>,
}

/// A whole dial string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialString {
    /// Whether `:_:` made it an enterprise originate (even with a single part).
    pub enterprise: bool,
    /// The enterprise `<…>` variables, for every part.
    pub enterprise_ultra: Variables,
    /// One entry per enterprise part; a single one when the string is not enterprise.
    pub parts: Vec<Originate>,
}

impl DialString {
    /// `{"enterprise": bool, "enterprise_ultra": [[k, v]..], "parts": [{"error", "ultra",
    /// "global", "groups": [[{"vars": [[k, v]..], "target"}]]}]}`, as the fake core records it.
    pub fn to_json(&self) -> Value {
        let parts: Vec<Value> = self
            .parts
            .iter()
            .map(|part| {
                let groups: Vec<Value> = part
                    .groups
                    .iter()
                    .map(|group| {
                        group
                            .iter()
                            .map(|leg| json!({"vars": pairs(&leg.vars), "target": leg.target}))
                            .collect()
                    })
                    .collect();
                json!({
                    "error": part.error,
                    "ultra": pairs(&part.ultra),
                    "global": pairs(&part.global),
                    "groups": groups,
                })
            })
            .collect();
        json!({
            "enterprise": self.enterprise,
            "enterprise_ultra": pairs(&self.enterprise_ultra),
            "parts": parts,
        })
    }
}

fn pairs(vars: &Variables) -> Value {
    vars.iter().map(|(k, v)| json!([k, v])).collect()
}

/// Reads `dial` as originate does; `Err` when originate refuses it outright.
pub fn parse(dial: &str) -> Result<DialString, String> {
    if skip_spaces(dial).is_empty() {
        return Err("empty dial string".to_string());
    }
    if !dial.contains(ENTERPRISE_DELIMITER) {
        return Ok(DialString {
            enterprise: false,
            enterprise_ultra: Vec::new(),
            parts: vec![originate(dial)],
        });
    }
    let (enterprise_ultra, rest) = match block(dial, '<', '>') {
        Ok(Some(found)) => found,
        Ok(None) => (Vec::new(), dial),
        Err(e) => return Err(format!("enterprise variables: {e}")),
    };
    Ok(DialString {
        enterprise: true,
        enterprise_ultra,
        parts: rest.split(ENTERPRISE_DELIMITER).map(originate).collect(),
    })
}

fn skip_spaces(text: &str) -> &str {
    text.trim_start_matches(' ')
}

fn originate(text: &str) -> Originate {
    let mut part = Originate::default();
    if let Err(e) = read_originate(&mut part, text) {
        part.groups.clear();
        part.error = Some(format!("{e} (originate: Parse Error!)"));
    }
    part
}

fn read_originate(part: &mut Originate, text: &str) -> Result<(), String> {
    let mut rest = text;
    if let Some((vars, after)) = block(rest, '<', '>')? {
        part.ultra = vars;
        rest = after;
    }
    if let Some((vars, after)) = block(rest, '{', '}')? {
        part.global = vars;
        rest = after;
    }
    if skip_spaces(rest).is_empty() {
        return Err("nothing to dial after the variable blocks".to_string());
    }
    if let Some(byte) = rest.bytes().find(|b| matches!(b, 0x01 | 0x02)) {
        return Err(format!(
            "byte {byte:#04x} in the legs, which originate uses for the commas of `[…]` blocks"
        ));
    }
    for (number, group) in split_free(rest, '|').into_iter().enumerate() {
        let legs = split_legs(group)
            .and_then(|legs| legs.into_iter().map(leg).collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("failover group {}: {e}", number + 1))?;
        part.groups.push(legs);
    }
    Ok(())
}

fn leg(text: &str) -> Result<Leg, String> {
    let text = skip_spaces(text);
    let (vars, rest) = block(text, '[', ']')?.unwrap_or((Vec::new(), text));
    Ok(Leg {
        vars,
        target: read(skip_spaces(rest)),
    })
}

/// What a character is to the splitters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Can split, open or close.
    Free,
    /// A backslash that makes the next character ordinary (dropped when read).
    Escape,
    /// The character after an escaping backslash.
    Escaped,
    /// One of a pair of quotes (dropped when read).
    Quote,
    /// Between a pair of quotes.
    Quoted,
}

/// Each character of `text` with its byte offset and role.
fn scan(text: &str) -> Vec<(usize, char, Role)> {
    let mut out = Vec::with_capacity(text.len());
    let mut quotes = Vec::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\\' {
            if let Some((next_at, next)) = chars.next() {
                out.push((at, c, Role::Escape));
                out.push((next_at, next, Role::Escaped));
                continue;
            }
        } else if c == '\'' {
            quotes.push(out.len());
        }
        out.push((at, c, Role::Free));
    }
    // Pairs from the left; an odd last quote stays an ordinary character.
    for pair in quotes.chunks_exact(2) {
        out[pair[0]].2 = Role::Quote;
        out[pair[1]].2 = Role::Quote;
        for item in &mut out[pair[0] + 1..pair[1]] {
            if item.2 == Role::Free {
                item.2 = Role::Quoted;
            }
        }
    }
    out
}

/// `text` cut at every free `delimiter`.
fn split_free(text: &str, delimiter: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (at, c, role) in scan(text) {
        if c == delimiter && role == Role::Free {
            pieces.push(&text[start..at]);
            start = at + c.len_utf8();
        }
    }
    pieces.push(&text[start..]);
    pieces
}

/// A failover group cut into legs: at free commas, none inside the `[…]` opening a leg.
fn split_legs(group: &str) -> Result<Vec<&str>, String> {
    let mut legs = Vec::new();
    let mut start = 0;
    let mut leg_start = true;
    let mut skip_to = 0;
    for (at, c, role) in scan(group) {
        if at < skip_to {
            continue;
        }
        if leg_start {
            if c == ' ' {
                continue;
            }
            leg_start = false;
            if c == '[' && role == Role::Free {
                let end = block_end(&group[at..], '[', ']')
                    .ok_or_else(|| unterminated('[', ']', legs.len() + 1))?;
                skip_to = at + end + 1;
                continue;
            }
        }
        if c == ',' && role == Role::Free {
            legs.push(&group[start..at]);
            start = at + 1;
            leg_start = true;
        }
    }
    legs.push(&group[start..]);
    Ok(legs)
}

fn unterminated(open: char, close: char, leg: usize) -> String {
    format!("leg {leg}: `{open}` block has no matching `{close}`")
}

/// Offset of the close matching the `open` that starts `text`.
fn block_end(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        }
    }
    None
}

/// The variables of an `open`…`close` block starting `text` (after spaces) and the text after
/// it; `None` when `text` does not start with `open`.
fn block(text: &str, open: char, close: char) -> Result<Option<(Variables, &str)>, String> {
    let text = skip_spaces(text);
    if !text.starts_with(open) {
        return Ok(None);
    }
    let end = block_end(text, open, close)
        .ok_or_else(|| format!("`{open}` block has no matching `{close}`"))?;
    let inner = &text[open.len_utf8()..end];
    Ok(Some((variables(inner), &text[end + close.len_utf8()..])))
}

/// The `name=value` items of a block's content.
fn variables(content: &str) -> Variables {
    let (separator, content) = match content.strip_prefix("^^").and_then(|rest| {
        let c = rest.chars().next()?;
        Some((c, &rest[c.len_utf8()..]))
    }) {
        Some(custom) => custom,
        None => (',', content),
    };
    let mut vars = Vec::new();
    for item in split_free(content, separator) {
        let item = skip_spaces(item);
        let Some(equals) = scan(item)
            .into_iter()
            .find(|&(_, c, role)| c == '=' && role == Role::Free)
            .map(|(at, _, _)| at)
        else {
            continue;
        };
        let name = read(&item[..equals]);
        if name.is_empty() {
            continue;
        }
        // leading spaces of a value go, as they do on a real FreeSWITCH
        vars.push((name, read(skip_spaces(&item[equals + 1..]))));
    }
    vars
}

/// The final reading of a value or target: quotes and escaping backslashes dropped, trailing
/// spaces that were neither quoted nor escaped trimmed (leading spaces are skipped before).
fn read(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut keep = 0;
    for (_, c, role) in scan(text) {
        match role {
            Role::Escape => {}
            Role::Quote => keep = out.len(),
            Role::Free if c == ' ' => out.push(c),
            Role::Free | Role::Escaped | Role::Quoted => {
                out.push(c);
                keep = out.len();
            }
        }
    }
    out.truncate(keep);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Variables {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn leg(vs: &[(&str, &str)], target: &str) -> Leg {
        Leg {
            vars: vars(vs),
            target: target.to_string(),
        }
    }

    fn one(dial: &str) -> Originate {
        let parsed = parse(dial).unwrap();
        assert!(!parsed.enterprise, "{dial}");
        assert_eq!(parsed.parts.len(), 1);
        parsed.parts.into_iter().next().unwrap()
    }

    fn targets(part: &Originate) -> Vec<Vec<&str>> {
        part.groups
            .iter()
            .map(|g| g.iter().map(|l| l.target.as_str()).collect())
            .collect()
    }

    #[test]
    fn failover_groups_of_simultaneous_legs() {
        let part = one("user/1@d,user/2@d|sofia/gateway/gw/555| user/3@d ");
        assert_eq!(part.error, None);
        assert_eq!(
            targets(&part),
            vec![
                vec!["user/1@d", "user/2@d"],
                vec!["sofia/gateway/gw/555"],
                vec!["user/3@d"]
            ]
        );
    }

    #[test]
    fn blocks_for_all_legs_and_for_one_leg() {
        let part = one(" <u=1>{g=2,h=x=y}[a=1,b=2]user/1@d,[c=3]user/2@d|user/3@d");
        assert_eq!(part.ultra, vars(&[("u", "1")]));
        assert_eq!(part.global, vars(&[("g", "2"), ("h", "x=y")]));
        assert_eq!(
            part.groups,
            vec![
                vec![
                    leg(&[("a", "1"), ("b", "2")], "user/1@d"),
                    leg(&[("c", "3")], "user/2@d")
                ],
                vec![leg(&[], "user/3@d")]
            ]
        );
        // A `{…}` after the first leg is no variable block: it is part of a target.
        let part = one("user/1@d,{g=2}user/2@d");
        assert_eq!(targets(&part), vec![vec!["user/1@d", "{g=2}user/2@d"]]);
    }

    #[test]
    fn escaped_separators_stay_in_leg_values() {
        let part = one("[l=a\\,b\\|{x=y}${system ls},m=2]user/1@d");
        assert_eq!(
            part.groups,
            vec![vec![leg(
                &[("l", "a,b|{x=y}${system ls}"), ("m", "2")],
                "user/1@d"
            )]]
        );
    }

    #[test]
    fn a_bar_in_a_leg_block_still_splits_groups() {
        let part = one("[l=a|b]user/1@d");
        assert_eq!(part.error.as_deref().map(|e| e.contains("`[`")), Some(true));
        let part = one("[l=a|b=c]user/1@d");
        assert!(part.error.is_some(), "{part:?}");
    }

    #[test]
    fn brackets_count_and_quotes_do_not_protect_them() {
        // `]` in a value ends the block: the rest is the target.
        let part = one("[l=x]user/666@evil]user/1@d");
        assert_eq!(
            part.groups,
            vec![vec![leg(&[("l", "x")], "user/666@evil]user/1@d")]]
        );
        let part = one("[l='x]y']user/1@d");
        assert_eq!(part.groups[0][0].vars, vars(&[("l", "'x")]));
        // A nested pair is part of the value.
        let part = one("[l=[a]]user/1@d");
        assert_eq!(part.groups, vec![vec![leg(&[("l", "[a]")], "user/1@d")]]);
    }

    #[test]
    fn quotes_protect_separators_and_are_dropped() {
        let part = one("{a='x,y',b=it's}user/'1,2'@d");
        assert_eq!(part.global, vars(&[("a", "x,y"), ("b", "it's")]));
        assert_eq!(targets(&part), vec![vec!["user/1,2@d"]]);
        let part = one("{a=\\'x,y\\'}u");
        // Escaped quotes pair with nothing: the comma splits, "y'" has no `=`.
        assert_eq!(part.global, vars(&[("a", "'x")]));
    }

    #[test]
    fn spaces_names_and_ignored_items() {
        let part = one("{ a = x ,noequals,=v, b='y ' ,c=z\\ }u");
        assert_eq!(part.global, vars(&[("a", "x"), ("b", "y "), ("c", "z ")]));
        let part = one("{^^;a=1,2;b=3}u");
        assert_eq!(part.global, vars(&[("a", "1,2"), ("b", "3")]));
        assert_eq!(one("{a=1,a=2}u").global, vars(&[("a", "1"), ("a", "2")]));
        assert_eq!(one("{a=x\\}u").global, vars(&[("a", "x\\")]));
    }

    #[test]
    fn enterprise_parts() {
        let parsed = parse("<e=1>pickup/g@d:_:{g=2}user/1@d|user/2@d:_:[x=1").unwrap();
        assert!(parsed.enterprise);
        assert_eq!(parsed.enterprise_ultra, vars(&[("e", "1")]));
        assert_eq!(parsed.parts.len(), 3);
        assert_eq!(targets(&parsed.parts[0]), vec![vec!["pickup/g@d"]]);
        assert_eq!(parsed.parts[1].global, vars(&[("g", "2")]));
        assert_eq!(
            targets(&parsed.parts[1]),
            vec![vec!["user/1@d"], vec!["user/2@d"]]
        );
        // The broken part fails alone.
        assert!(
            parsed.parts[2]
                .error
                .as_deref()
                .unwrap()
                .contains("Parse Error!")
        );
        // Nothing protects `:_:`, not even a block, an escape or a quote.
        for dial in ["[l=a:_:b]user/1", "[l=a\\:_:b]user/1", "user/'a:_:b'"] {
            let parsed = parse(dial).unwrap();
            assert!(parsed.enterprise, "{dial}");
            assert_eq!(parsed.parts.len(), 2, "{dial}");
        }
        let parsed = parse("<a=:_:>user/1").unwrap();
        assert!(parsed.enterprise);
        assert_eq!(parsed.enterprise_ultra, vars(&[("a", ":_:")]));
        assert_eq!(targets(&parsed.parts[0]), vec![vec!["user/1"]]);
    }

    #[test]
    fn what_originate_refuses() {
        assert_eq!(parse("  ").unwrap_err(), "empty dial string");
        assert!(parse("<a=1:_:x").unwrap_err().contains("`<` block"));
        for (dial, why) in [
            ("{a=1user/1", "`{` block has no matching `}`"),
            ("<a=1user/1", "`<` block has no matching `>`"),
            ("user/1,[a=1user/2", "leg 2: `[` block"),
            ("{a=1}  ", "nothing to dial"),
            ("[a=\u{1}]user/1", "byte 0x01"),
        ] {
            let part = one(dial);
            let error = part.error.unwrap_or_default();
            assert!(error.contains(why), "{dial}: {error}");
            assert!(part.groups.is_empty());
        }
        // Empty legs are legs.
        assert_eq!(targets(&one("a,,b|")), vec![vec!["a", "", "b"], vec![""]]);
    }

    #[test]
    fn the_recorded_json() {
        let parsed = parse("[l=1]user/1@d").unwrap();
        assert_eq!(
            parsed.to_json(),
            json!({"enterprise": false, "enterprise_ultra": [], "parts": [{
                "error": null, "ultra": [], "global": [],
                "groups": [[{"vars": [["l", "1"]], "target": "user/1@d"}]]}]})
        );
    }

    /// Dial strings with the hostile values of the e2e scenario `hostile_originate_no_extra_leg`,
    /// escaped as `src/dial.rs` escapes them. A real FreeSWITCH (1.10.12) rang exactly one leg
    /// for each and set the value shown (leading spaces dropped: `src/dial.rs` refuses them).
    #[test]
    fn the_e2e_hostile_values_read_as_one_leg_with_the_value_verbatim() {
        let target = "sofia/lab/sip:callee@127.0.0.1:5006";
        for (escaped, value) in [
            (
                r"a\,b\,sofia/lab/evil@127.0.0.1:5007",
                "a,b,sofia/lab/evil@127.0.0.1:5007",
            ),
            (
                r"x\|sofia/lab/evil@127.0.0.1:5007",
                "x|sofia/lab/evil@127.0.0.1:5007",
            ),
            ("{origination_uuid=e2e}{x=y}", "{origination_uuid=e2e}{x=y}"),
            ("^^;a=1;b=2", "^^;a=1;b=2"),
            (
                r"  two leading spaces\, = and a=b=c",
                "two leading spaces, = and a=b=c",
            ),
            ("\"double\" quotes", "\"double\" quotes"),
            ("unicode ünï 日本 ☎", "unicode ünï 日本 ☎"),
        ] {
            let dial = format!("[e2e_hv={escaped}]{target}");
            let part = one(&dial);
            assert_eq!(part.error, None, "{dial}");
            assert_eq!(
                part.groups,
                vec![vec![leg(&[("e2e_hv", value)], target)]],
                "{dial}"
            );
        }
    }
}
