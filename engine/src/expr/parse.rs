//! The native form: a small AST for the common subset of JavaScript expressions. Anything
//! outside the subset makes the parser answer `NotNative`, and the expression runs on the
//! embedded engine instead. The source has already passed the engine's syntax check, so
//! the parser only has to get the structure of valid input right.

use super::lexer::{Tok, Token};
use super::value::Val;

/// The source uses something the native evaluator does not implement.
#[derive(Debug)]
pub(crate) struct NotNative;

type P<T> = Result<T, NotNative>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    StrictEq,
    StrictNe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    ParseInt,
    ParseFloat,
    Number,
    String,
    Boolean,
    IsNaN,
    IsFinite,
    Math(MathFn),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MathFn {
    Abs,
    Floor,
    Ceil,
    Round,
    Trunc,
    Sign,
    Sqrt,
    Pow,
    Max,
    Min,
    Random,
}

/// String methods (and the array methods `split` results need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    IndexOf,
    LastIndexOf,
    Includes,
    StartsWith,
    EndsWith,
    ToLowerCase,
    ToUpperCase,
    Trim,
    TrimStart,
    TrimEnd,
    Substring,
    Substr,
    Slice,
    CharAt,
    CharCodeAt,
    Split,
    Concat,
    Join,
    ToString,
}

#[derive(Debug)]
pub(crate) enum Node {
    Const(Val<'static>),
    Var(usize),
    Global(usize),
    Arg(usize),
    Helper(usize),
    Not(Box<Node>),
    Neg(Box<Node>),
    Plus(Box<Node>),
    TypeOf(Box<Node>),
    Bin(Bin, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Nullish(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Length(Box<Node>),
    Index(Box<Node>, Box<Node>),
    Method(Box<Node>, Method, Vec<Node>),
    Call(Builtin, Vec<Node>),
    /// `/re/.test(arg)`; `unicode` is the `u` flag (without it JavaScript matches UTF-16
    /// code units, so subjects above U+FFFF are left to the engine).
    Test {
        re: Box<regex::Regex>,
        unicode: bool,
        arg: Option<Box<Node>>,
    },
}

/// Name tables shared with the engine rewrite: every `${}` / `$${}` name once, every
/// helper occurrence by its token start.
pub(crate) struct Names<'t> {
    pub vars: &'t [String],
    pub globals: &'t [String],
    pub helper_starts: &'t [usize],
}

/// Deepest tree the native evaluator walks (its recursion runs on a session thread with a
/// 240 KiB stack); deeper expressions go to the engine, which has its own stack check.
const MAX_DEPTH: usize = 48;

pub(crate) fn parse(tokens: &[Token], names: &Names) -> P<Node> {
    let mut p = Parser {
        tokens,
        pos: 0,
        names,
        nesting: 0,
    };
    let node = p.cond()?;
    if p.pos != tokens.len() || deeper_than(&node, MAX_DEPTH) {
        return Err(NotNative);
    }
    Ok(node)
}

/// Whether the tree is deeper than `limit` (recursion bounded by `limit`).
fn deeper_than(node: &Node, limit: usize) -> bool {
    if limit == 0 {
        return true;
    }
    let below = |n: &Node| deeper_than(n, limit - 1);
    match node {
        Node::Const(_) | Node::Var(_) | Node::Global(_) | Node::Arg(_) | Node::Helper(_) => false,
        Node::Not(a) | Node::Neg(a) | Node::Plus(a) | Node::TypeOf(a) | Node::Length(a) => below(a),
        Node::Bin(_, a, b)
        | Node::And(a, b)
        | Node::Or(a, b)
        | Node::Nullish(a, b)
        | Node::Index(a, b) => below(a) || below(b),
        Node::Cond(a, b, c) => below(a) || below(b) || below(c),
        Node::Method(a, _, args) => below(a) || args.iter().any(below),
        Node::Call(_, args) => args.iter().any(below),
        Node::Test { arg, .. } => arg.as_deref().is_some_and(below),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    names: &'t Names<'t>,
    /// Recursion depth of `cond`/`unary`, bounded so parsing cannot exhaust the stack.
    nesting: usize,
}

fn bin_op(p: &str) -> Option<(u8, Bin)> {
    Some(match p {
        "==" => (8, Bin::Eq),
        "!=" => (8, Bin::Ne),
        "===" => (8, Bin::StrictEq),
        "!==" => (8, Bin::StrictNe),
        "<" => (9, Bin::Lt),
        ">" => (9, Bin::Gt),
        "<=" => (9, Bin::Le),
        ">=" => (9, Bin::Ge),
        "+" => (11, Bin::Add),
        "-" => (11, Bin::Sub),
        "*" => (12, Bin::Mul),
        "/" => (12, Bin::Div),
        "%" => (12, Bin::Rem),
        "**" => (13, Bin::Pow),
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> P<()> {
        if self.eat(p) { Ok(()) } else { Err(NotNative) }
    }

    /// Runs `f` one nesting level deeper, refusing to go past `MAX_DEPTH`.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        if self.nesting >= MAX_DEPTH {
            return Err(NotNative);
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn cond(&mut self) -> P<Node> {
        self.nested(Self::cond_inner)
    }

    fn cond_inner(&mut self) -> P<Node> {
        let test = self.binary(0)?;
        if !self.eat("?") {
            return Ok(test);
        }
        let yes = self.cond()?;
        self.expect(":")?;
        let no = self.cond()?;
        Ok(Node::Cond(Box::new(test), Box::new(yes), Box::new(no)))
    }

    /// Precedence climbing over `?? || && == < + * **`.
    fn binary(&mut self, min: u8) -> P<Node> {
        let mut left = self.unary()?;
        loop {
            let Some(Tok::Punct(p)) = self.peek() else {
                return Ok(left);
            };
            let (prec, kind) = match *p {
                "??" => (3, None),
                "||" => (3, None),
                "&&" => (4, None),
                other => match bin_op(other) {
                    Some((prec, op)) => (prec, Some(op)),
                    None => return Ok(left),
                },
            };
            if prec < min {
                return Ok(left);
            }
            let p = *p;
            self.pos += 1;
            // `**` is right-associative
            let next_min = if p == "**" { prec } else { prec + 1 };
            let right = Box::new(self.nested(|p| p.binary(next_min))?);
            let l = Box::new(left);
            left = match (p, kind) {
                ("??", _) => Node::Nullish(l, right),
                ("||", _) => Node::Or(l, right),
                ("&&", _) => Node::And(l, right),
                (_, Some(op)) => Node::Bin(op, l, right),
                _ => return Err(NotNative),
            };
        }
    }

    fn unary(&mut self) -> P<Node> {
        let op = match self.peek() {
            Some(Tok::Punct(p @ ("!" | "-" | "+"))) => *p,
            Some(Tok::Ident(w)) if w == "typeof" => "typeof",
            _ => return self.postfix(),
        };
        self.pos += 1;
        let inner = Box::new(self.nested(Self::unary)?);
        Ok(match op {
            "!" => Node::Not(inner),
            "-" => Node::Neg(inner),
            "+" => Node::Plus(inner),
            _ => Node::TypeOf(inner),
        })
    }

    fn args(&mut self) -> P<Vec<Node>> {
        self.expect("(")?;
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.cond()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
            if self.eat(")") {
                return Ok(args);
            }
        }
    }

    fn postfix(&mut self) -> P<Node> {
        let mut node = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Tok::Ident(name)) = self.peek() else {
                    return Err(NotNative);
                };
                let name = name.clone();
                self.pos += 1;
                if name == "length" && !self.is_punct("(") {
                    node = Node::Length(Box::new(node));
                    continue;
                }
                let method = method_named(&name).ok_or(NotNative)?;
                let args = self.args()?;
                // a regular expression argument (split(/,/)) is the engine's business
                node = Node::Method(Box::new(node), method, args);
            } else if self.eat("[") {
                let index = self.cond()?;
                self.expect("]")?;
                node = Node::Index(Box::new(node), Box::new(index));
            } else {
                return Ok(node);
            }
        }
    }

    fn primary(&mut self) -> P<Node> {
        let Some(token) = self.tokens.get(self.pos) else {
            return Err(NotNative);
        };
        self.pos += 1;
        Ok(match &token.tok {
            Tok::Num(n) => Node::Const(Val::Num(*n)),
            Tok::Str(Some(s)) => Node::Const(Val::Str(s.clone().into())),
            Tok::Var(name) => Node::Var(index_of(self.names.vars, name)?),
            Tok::Global(name) => Node::Global(index_of(self.names.globals, name)?),
            Tok::Arg(n) => Node::Arg(*n),
            Tok::Helper { .. } => Node::Helper(
                self.names
                    .helper_starts
                    .iter()
                    .position(|s| *s == token.start)
                    .ok_or(NotNative)?,
            ),
            Tok::Punct("(") => {
                let inner = self.cond()?;
                self.expect(")")?;
                inner
            }
            Tok::Regex { body, flags } => {
                let re = super::regex::translate(body, flags).ok_or(NotNative)?;
                self.expect(".")?;
                match self.peek() {
                    Some(Tok::Ident(m)) if m == "test" => self.pos += 1,
                    _ => return Err(NotNative),
                }
                let mut args = self.args()?;
                // test() converts its first argument; a regex argument would be a
                // regex object, which this evaluator does not model
                let arg = if args.is_empty() {
                    None
                } else {
                    Some(Box::new(args.swap_remove(0)))
                };
                Node::Test {
                    re: Box::new(re),
                    unicode: flags.contains('u'),
                    arg,
                }
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Node::Const(Val::Bool(true)),
                "false" => Node::Const(Val::Bool(false)),
                "null" => Node::Const(Val::Null),
                "undefined" => Node::Const(Val::Undefined),
                "NaN" => Node::Const(Val::Num(f64::NAN)),
                "Infinity" => Node::Const(Val::Num(f64::INFINITY)),
                "Math" => {
                    self.expect(".")?;
                    let Some(Tok::Ident(name)) = self.peek() else {
                        return Err(NotNative);
                    };
                    let name = name.clone();
                    self.pos += 1;
                    if let Some(c) = math_constant(&name) {
                        return Ok(Node::Const(Val::Num(c)));
                    }
                    let f = math_fn(&name).ok_or(NotNative)?;
                    Node::Call(Builtin::Math(f), self.args()?)
                }
                other => {
                    let f = match other {
                        "parseInt" => Builtin::ParseInt,
                        "parseFloat" => Builtin::ParseFloat,
                        "Number" => Builtin::Number,
                        "String" => Builtin::String,
                        "Boolean" => Builtin::Boolean,
                        "isNaN" => Builtin::IsNaN,
                        "isFinite" => Builtin::IsFinite,
                        _ => return Err(NotNative),
                    };
                    if !self.is_punct("(") {
                        return Err(NotNative);
                    }
                    Node::Call(f, self.args()?)
                }
            },
            _ => return Err(NotNative),
        })
    }
}

fn index_of(table: &[String], name: &str) -> P<usize> {
    table.iter().position(|n| n == name).ok_or(NotNative)
}

fn method_named(name: &str) -> Option<Method> {
    Some(match name {
        "indexOf" => Method::IndexOf,
        "lastIndexOf" => Method::LastIndexOf,
        "includes" => Method::Includes,
        "startsWith" => Method::StartsWith,
        "endsWith" => Method::EndsWith,
        "toLowerCase" => Method::ToLowerCase,
        "toUpperCase" => Method::ToUpperCase,
        "trim" => Method::Trim,
        "trimStart" => Method::TrimStart,
        "trimEnd" => Method::TrimEnd,
        "substring" => Method::Substring,
        "substr" => Method::Substr,
        "slice" => Method::Slice,
        "charAt" => Method::CharAt,
        "charCodeAt" => Method::CharCodeAt,
        "split" => Method::Split,
        "concat" => Method::Concat,
        "join" => Method::Join,
        "toString" => Method::ToString,
        _ => return None,
    })
}

fn math_fn(name: &str) -> Option<MathFn> {
    Some(match name {
        "abs" => MathFn::Abs,
        "floor" => MathFn::Floor,
        "ceil" => MathFn::Ceil,
        "round" => MathFn::Round,
        "trunc" => MathFn::Trunc,
        "sign" => MathFn::Sign,
        "sqrt" => MathFn::Sqrt,
        "pow" => MathFn::Pow,
        "max" => MathFn::Max,
        "min" => MathFn::Min,
        "random" => MathFn::Random,
        _ => return None,
    })
}

fn math_constant(name: &str) -> Option<f64> {
    use std::f64::consts;
    Some(match name {
        "PI" => consts::PI,
        "E" => consts::E,
        "LN2" => consts::LN_2,
        "LN10" => consts::LN_10,
        "LOG2E" => consts::LOG2_E,
        "LOG10E" => consts::LOG10_E,
        "SQRT2" => consts::SQRT_2,
        "SQRT1_2" => consts::FRAC_1_SQRT_2,
        _ => return None,
    })
}
