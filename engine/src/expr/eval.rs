//! The native evaluator: walks the AST with JavaScript semantics. When a value takes it
//! outside what it models exactly (a method on a number, a cut through a surrogate pair,
//! a regex subject above U+FFFF…) it answers `Bail::Engine` and the caller evaluates the
//! whole expression on the embedded engine instead, so the two paths never disagree.

use std::borrow::Cow;

use super::parse::{Bin, Builtin, MathFn, Method, Node};
use super::value::{
    Units, Val, clamp_index, compare, loose_equals, number_to_string, parse_float, parse_int,
    relative_index, str_to_number, strict_equals, to_integer, trim_js,
};
use super::{ExprEnv, Inner};

pub(crate) enum Bail {
    /// Let the embedded engine evaluate the expression.
    Engine,
    /// A host-side failure (an unknown time zone).
    Error(String),
}

type R<'a> = Result<Val<'a>, Bail>;

pub(crate) struct Cx<'e> {
    pub env: &'e mut dyn ExprEnv,
    /// `(zone, now)` once a date helper asked for it.
    pub clock: Option<(super::dates::Zone, i64)>,
}

impl Cx<'_> {
    pub fn clock(&mut self) -> Result<(super::dates::Zone, i64), Bail> {
        if let Some(c) = self.clock {
            return Ok(c);
        }
        let zone =
            super::dates::Zone::resolve(self.env.timezone().as_deref()).map_err(Bail::Error)?;
        let c = (zone, self.env.now_micros());
        self.clock = Some(c);
        Ok(c)
    }
}

fn str_val(s: String) -> Val<'static> {
    Val::Str(Cow::Owned(s))
}

pub(crate) fn constant<'a>(v: &'a Val<'static>) -> Val<'a> {
    match v {
        Val::Str(s) => Val::Str(Cow::Borrowed(s)),
        other => other.clone(),
    }
}

/// The hot path: leaves, logic and operators. Everything rarer lives in [`eval_rare`],
/// kept out of line so this frame stays small (the walk recurses once per node).
pub(crate) fn eval<'a>(e: &'a Inner, node: &'a Node, cx: &mut Cx) -> R<'a> {
    Ok(match node {
        Node::Const(v) => constant(v),
        Node::Var(i) => str_val(cx.env.var(&e.vars[*i])),
        Node::Not(x) => Val::Bool(!eval(e, x, cx)?.truthy()),
        Node::And(a, b) => {
            let l = eval(e, a, cx)?;
            if l.truthy() { eval(e, b, cx)? } else { l }
        }
        Node::Or(a, b) => {
            let l = eval(e, a, cx)?;
            if l.truthy() { l } else { eval(e, b, cx)? }
        }
        Node::Bin(op, a, b) => {
            let l = eval(e, a, cx)?;
            let r = eval(e, b, cx)?;
            binary(*op, l, r)
        }
        _ => return eval_rare(e, node, cx),
    })
}

#[inline(never)]
fn eval_rare<'a>(e: &'a Inner, node: &'a Node, cx: &mut Cx) -> R<'a> {
    Ok(match node {
        Node::Const(_)
        | Node::Var(_)
        | Node::Not(_)
        | Node::And(..)
        | Node::Or(..)
        | Node::Bin(..) => {
            return eval(e, node, cx);
        }
        Node::Global(i) => str_val(cx.env.global(&e.globals[*i])),
        Node::Arg(n) => str_val(cx.env.arg(*n)),
        Node::Helper(i) => {
            let (zone, now) = cx.clock()?;
            super::dates::eval(&e.helpers[*i], zone, now)
        }
        Node::Neg(x) => Val::Num(-eval(e, x, cx)?.to_number()),
        Node::Plus(x) => Val::Num(eval(e, x, cx)?.to_number()),
        Node::TypeOf(x) => Val::Str(Cow::Borrowed(eval(e, x, cx)?.type_of())),
        Node::Nullish(a, b) => {
            let l = eval(e, a, cx)?;
            if matches!(l, Val::Undefined | Val::Null) {
                eval(e, b, cx)?
            } else {
                l
            }
        }
        Node::Cond(t, y, n) => {
            if eval(e, t, cx)?.truthy() {
                eval(e, y, cx)?
            } else {
                eval(e, n, cx)?
            }
        }
        Node::Length(x) => match eval(e, x, cx)? {
            Val::Str(s) => Val::Num(Units::of(&s).len() as f64),
            Val::Arr(a) => Val::Num(a.len() as f64),
            // numbers and booleans have no length; undefined/null throw
            Val::Num(_) | Val::Bool(_) => Val::Undefined,
            _ => return Err(Bail::Engine),
        },
        Node::Index(x, i) => {
            let target = eval(e, x, cx)?;
            let key = eval(e, i, cx)?;
            index(target, key)?
        }
        Node::Method(x, m, args) => {
            let target = eval(e, x, cx)?;
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(e, a, cx)?);
            }
            method(target, *m, vals)?
        }
        Node::Call(f, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(e, a, cx)?);
            }
            builtin(*f, vals)
        }
        Node::Test { re, unicode, arg } => {
            let subject = match arg {
                Some(a) => eval(e, a, cx)?.into_string(),
                None => "undefined".to_string(),
            };
            if !unicode && subject.chars().any(|c| c > '\u{FFFF}') {
                return Err(Bail::Engine);
            }
            Val::Bool(re.is_match(&subject))
        }
    })
}

#[inline]
pub(crate) fn binary<'a>(op: Bin, l: Val<'a>, r: Val<'a>) -> Val<'a> {
    match op {
        Bin::Add => add(l, r),
        _ => binary_ref(op, &l, &r),
    }
}

/// Every binary operator but `+`: the operands are only read.
#[inline]
pub(crate) fn binary_ref(op: Bin, l: &Val, r: &Val) -> Val<'static> {
    use std::cmp::Ordering::*;
    match op {
        Bin::Add => add(l.clone(), r.clone()).into_static(),
        Bin::Sub => Val::Num(l.to_number() - r.to_number()),
        Bin::Mul => Val::Num(l.to_number() * r.to_number()),
        Bin::Div => Val::Num(l.to_number() / r.to_number()),
        Bin::Rem => Val::Num(js_rem(l.to_number(), r.to_number())),
        Bin::Pow => Val::Num(js_pow(l.to_number(), r.to_number())),
        Bin::Lt => Val::Bool(compare(l, r) == Some(Less)),
        Bin::Gt => Val::Bool(compare(l, r) == Some(Greater)),
        Bin::Le => Val::Bool(matches!(compare(l, r), Some(Less | Equal))),
        Bin::Ge => Val::Bool(matches!(compare(l, r), Some(Greater | Equal))),
        Bin::Eq => Val::Bool(loose_equals(l, r)),
        Bin::Ne => Val::Bool(!loose_equals(l, r)),
        Bin::StrictEq => Val::Bool(strict_equals(l, r)),
        Bin::StrictNe => Val::Bool(!strict_equals(l, r)),
    }
}

/// `+`: concatenation when either side is a string, else numeric addition.
#[inline(never)]
fn add<'a>(l: Val<'a>, r: Val<'a>) -> Val<'a> {
    let (pl, pr) = (prim(l), prim(r));
    if matches!(pl, Val::Str(_)) || matches!(pr, Val::Str(_)) {
        let mut s = pl.into_string();
        s.push_str(&pr.to_str());
        str_val(s)
    } else {
        Val::Num(pl.to_number() + pr.to_number())
    }
}

fn prim(v: Val) -> Val {
    match v {
        Val::Arr(a) => str_val(a.join(",")),
        other => other,
    }
}

/// `%` keeps the dividend's sign, like fmod (Rust's `%` on f64 is fmod).
fn js_rem(a: f64, b: f64) -> f64 {
    a % b
}

pub(crate) fn js_pow(x: f64, y: f64) -> f64 {
    if y.is_nan() || (x.abs() == 1.0 && y.is_infinite()) {
        return f64::NAN;
    }
    x.powf(y)
}

#[inline(never)]
fn index(target: Val, key: Val) -> R<'static> {
    // only canonical array indexes; other keys ("length", -1, "01"…) go to the engine
    let i = match &key {
        Val::Num(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 4_294_967_295.0 => *n as usize,
        Val::Str(s) => {
            let n = str_to_number(s);
            if n < 0.0 || n.fract() != 0.0 || n >= 4_294_967_295.0 || number_to_string(n) != **s {
                return Err(Bail::Engine);
            }
            n as usize
        }
        _ => return Err(Bail::Engine),
    };
    match target {
        Val::Str(s) => {
            let u = Units::of(&s);
            if i >= u.len() {
                return Ok(Val::Undefined);
            }
            Ok(str_val(u.slice(i, i + 1).ok_or(Bail::Engine)?))
        }
        Val::Arr(a) => Ok(a.get(i).map_or(Val::Undefined, |s| str_val(s.clone()))),
        _ => Err(Bail::Engine),
    }
}

fn arg_num(args: &[Val], i: usize) -> Option<f64> {
    match args.get(i) {
        None | Some(Val::Undefined) => None,
        Some(v) => Some(v.to_number()),
    }
}

fn arg_str<'v>(args: &'v [Val], i: usize) -> Cow<'v, str> {
    args.get(i)
        .map_or(Cow::Borrowed("undefined"), |v| v.to_str())
}

#[inline(never)]
fn method<'a>(target: Val<'a>, m: Method, args: Vec<Val<'a>>) -> R<'a> {
    let s = match target {
        Val::Str(s) => s,
        Val::Arr(a) => return array_method(a, m, &args),
        _ => return Err(Bail::Engine),
    };
    let u = Units::of(&s);
    let len = u.len();
    let cut =
        |from: usize, to: usize| -> R<'a> { u.slice(from, to).map(str_val).ok_or(Bail::Engine) };
    Ok(match m {
        Method::IndexOf => {
            let needle = arg_str(&args, 0);
            let from = clamp_index(arg_num(&args, 1).unwrap_or(0.0), len);
            Val::Num(u.find(&Units::of(&needle), from).map_or(-1.0, |i| i as f64))
        }
        Method::LastIndexOf => {
            let needle = arg_str(&args, 0);
            let pos = arg_num(&args, 1).unwrap_or(f64::NAN);
            let from = if pos.is_nan() {
                len
            } else {
                clamp_index(pos, len)
            };
            Val::Num(
                u.rfind(&Units::of(&needle), from)
                    .map_or(-1.0, |i| i as f64),
            )
        }
        Method::Includes => {
            let needle = arg_str(&args, 0);
            let from = clamp_index(arg_num(&args, 1).unwrap_or(0.0), len);
            Val::Bool(u.find(&Units::of(&needle), from).is_some())
        }
        Method::StartsWith => {
            let needle = arg_str(&args, 0);
            let at = clamp_index(arg_num(&args, 1).unwrap_or(0.0), len);
            Val::Bool(u.matches_at(&Units::of(&needle), at))
        }
        Method::EndsWith => {
            let needle = arg_str(&args, 0);
            let n = Units::of(&needle);
            let end = clamp_index(arg_num(&args, 1).unwrap_or(len as f64), len);
            Val::Bool(end >= n.len() && u.matches_at(&n, end - n.len()))
        }
        Method::ToLowerCase => str_val(s.to_lowercase()),
        Method::ToUpperCase => str_val(s.to_uppercase()),
        Method::Trim => str_val(trim_js(&s).to_string()),
        Method::TrimStart => str_val(
            s.trim_start_matches(super::lexer::is_js_whitespace)
                .to_string(),
        ),
        Method::TrimEnd => str_val(
            s.trim_end_matches(super::lexer::is_js_whitespace)
                .to_string(),
        ),
        Method::Substring => {
            let a = clamp_index(arg_num(&args, 0).unwrap_or(0.0), len);
            let b = clamp_index(arg_num(&args, 1).unwrap_or(len as f64), len);
            cut(a.min(b), a.max(b))?
        }
        Method::Substr => {
            let start = relative_index(arg_num(&args, 0).unwrap_or(0.0), len);
            let count =
                to_integer(arg_num(&args, 1).unwrap_or(f64::INFINITY)).clamp(0.0, len as f64);
            cut(start, (start as f64 + count).min(len as f64) as usize)?
        }
        Method::Slice => {
            let a = relative_index(arg_num(&args, 0).unwrap_or(0.0), len);
            let b = relative_index(arg_num(&args, 1).unwrap_or(len as f64), len);
            cut(a, b)?
        }
        Method::CharAt => {
            let p = to_integer(arg_num(&args, 0).unwrap_or(0.0));
            if p < 0.0 || p >= len as f64 {
                str_val(String::new())
            } else {
                cut(p as usize, p as usize + 1)?
            }
        }
        Method::CharCodeAt => {
            let p = to_integer(arg_num(&args, 0).unwrap_or(0.0));
            if p < 0.0 || p >= len as f64 {
                Val::Num(f64::NAN)
            } else {
                Val::Num(f64::from(u.at(p as usize)))
            }
        }
        Method::Split => split(&s, &args)?,
        Method::Concat => {
            let mut out = s.into_owned();
            for a in &args {
                out.push_str(&a.to_str());
            }
            str_val(out)
        }
        Method::ToString => Val::Str(s),
        Method::Join => return Err(Bail::Engine),
    })
}

fn split<'a>(s: &str, args: &[Val]) -> R<'a> {
    let limit = match args.get(1) {
        None | Some(Val::Undefined) => u32::MAX,
        Some(v) => {
            let n = v.to_number();
            if !n.is_finite() {
                0
            } else {
                n.trunc().rem_euclid(4_294_967_296.0) as u32
            }
        }
    } as usize;
    let parts: Vec<String> = match args.first() {
        None | Some(Val::Undefined) => vec![s.to_string()],
        Some(sep) => {
            let sep = sep.to_str();
            if sep.is_empty() {
                if s.chars().any(|c| c > '\u{FFFF}') {
                    return Err(Bail::Engine);
                }
                s.chars().map(String::from).collect()
            } else {
                s.split(&*sep).map(String::from).collect()
            }
        }
    };
    Ok(Val::Arr(parts.into_iter().take(limit).collect()))
}

fn array_method<'a>(a: Vec<String>, m: Method, args: &[Val]) -> R<'a> {
    Ok(match m {
        Method::Join => {
            let sep = match args.first() {
                None | Some(Val::Undefined) => Cow::Borrowed(","),
                Some(v) => v.to_str(),
            };
            str_val(a.join(&sep))
        }
        Method::ToString => str_val(a.join(",")),
        // elements are strings: strict comparison against a string argument
        Method::Includes | Method::IndexOf => {
            let from = match arg_num(args, 1) {
                None => 0,
                Some(p) => relative_index(p, a.len()),
            };
            let pos = match args.first() {
                Some(Val::Str(x)) => a.iter().skip(from).position(|e| e == x).map(|p| p + from),
                _ => None,
            };
            if m == Method::Includes {
                Val::Bool(pos.is_some())
            } else {
                Val::Num(pos.map_or(-1.0, |p| p as f64))
            }
        }
        Method::Concat | Method::Slice | Method::LastIndexOf => return Err(Bail::Engine),
        _ => return Err(Bail::Engine),
    })
}

#[inline(never)]
fn builtin(f: Builtin, args: Vec<Val>) -> Val<'static> {
    let num = |i: usize| args.get(i).map_or(f64::NAN, Val::to_number);
    match f {
        Builtin::ParseInt => {
            let s = args
                .first()
                .map_or(Cow::Borrowed("undefined"), |v| v.to_str());
            let radix = match args.get(1) {
                None | Some(Val::Undefined) => None,
                Some(v) => Some(v.to_number()),
            };
            Val::Num(parse_int(&s, radix))
        }
        Builtin::ParseFloat => {
            let s = args
                .first()
                .map_or(Cow::Borrowed("undefined"), |v| v.to_str());
            Val::Num(parse_float(&s))
        }
        Builtin::Number => Val::Num(args.first().map_or(0.0, Val::to_number)),
        Builtin::String => str_val(
            args.first()
                .map_or(String::new(), |v| v.to_str().into_owned()),
        ),
        Builtin::Boolean => Val::Bool(args.first().is_some_and(Val::truthy)),
        Builtin::IsNaN => Val::Bool(num(0).is_nan()),
        Builtin::IsFinite => Val::Bool(num(0).is_finite()),
        Builtin::Math(m) => Val::Num(math(m, &args)),
    }
}

fn math(m: MathFn, args: &[Val]) -> f64 {
    let x = args.first().map_or(f64::NAN, Val::to_number);
    match m {
        MathFn::Abs => x.abs(),
        MathFn::Floor => x.floor(),
        MathFn::Ceil => x.ceil(),
        MathFn::Round => js_round(x),
        MathFn::Trunc => x.trunc(),
        MathFn::Sign => {
            if x.is_nan() || x == 0.0 {
                x
            } else {
                x.signum()
            }
        }
        MathFn::Sqrt => x.sqrt(),
        MathFn::Pow => js_pow(x, args.get(1).map_or(f64::NAN, Val::to_number)),
        MathFn::Max | MathFn::Min => {
            let nums: Vec<f64> = args.iter().map(Val::to_number).collect();
            let max = m == MathFn::Max;
            let mut acc = if max {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            for v in nums {
                if v.is_nan() {
                    return f64::NAN;
                }
                let better = if max {
                    v > acc || (v == 0.0 && acc == 0.0 && acc.is_sign_negative())
                } else {
                    v < acc || (v == 0.0 && acc == 0.0 && v.is_sign_negative())
                };
                if better {
                    acc = v;
                }
            }
            acc
        }
        MathFn::Random => random_unit(),
    }
}

/// `Math.round`: halves go up, -0 is kept.
pub(crate) fn js_round(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 || x.fract() == 0.0 {
        return x;
    }
    if (-0.5..0.0).contains(&x) {
        return -0.0;
    }
    let f = x.floor();
    if x - f >= 0.5 { f + 1.0 } else { f }
}

/// A uniformly distributed number in `[0, 1)`, from the std hasher's random keys.
pub(crate) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
