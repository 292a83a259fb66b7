//! Flow expressions (`if.expression`, `while.condition`) and the `string` / `math`
//! applications.
//!
//! An expression is JavaScript in the original's dialect: `${name}` is the channel
//! variable as a string value, `$${name}` the global variable, `$N` the invocation
//! argument (a string), `&helper(arg)` the date helpers of docs/semantics.md. It is compiled
//! once: syntax-checked by the embedded engine, rewritten so that every dialect token is
//! an argument (values are never pasted into code), and, when it stays inside the common
//! subset, also compiled to a native form that is evaluated without any interpreter.
//!
//! Differences from the original, on purpose:
//! - The keywords `function case if return new switch var this typeof for while break do
//!   continue` are NOT deleted from the text. The deletion was a guard against loops in
//!   an interpreter without a time limit; here the sandbox has one, and the deletion also
//!   corrupted string literals (`'do not call'` became `'  not call'`). An expression is a
//!   single JavaScript expression: statements are a syntax error at load.
//! - `${…}`, `$N` and `&helper()` are dialect tokens only outside string literals and
//!   comments (inside a template literal `${name}` is the channel variable too).
//! - `&time_of_day(22:00-06:00)` wraps past midnight; `&mweek()` counts Monday-started
//!   weeks from the 1st (the original's ISO-week subtraction broke across new year);
//!   malformed helper arguments are a load error.

pub mod apps;
pub(crate) mod dates;
pub(crate) mod digest;
pub(crate) mod eval;
pub(crate) mod flat;
pub(crate) mod lexer;
pub(crate) mod parse;
pub(crate) mod regex;
pub(crate) mod value;

pub use apps::{MathCall, StringCall};

use crate::js::{ExprInput, ExprValue, Script, slot};
use dates::{Helper, Zone};
use eval::{Bail, Cx};
use lexer::{Mode, Tok, tokenize};
use parse::{Names, Node};
use value::Val;

/// What an expression (or a `js` body) reads from the call.
pub trait ExprEnv {
    /// `${name}`: the channel variable, "" when missing. `name` is the raw text inside
    /// `${…}`, so JSON paths and `.uri()` apply.
    fn var(&mut self, name: &str) -> String;
    /// `${name}` where `name` is known (at load) to be a plain variable name, without a
    /// JSON path or `.uri()`: an env may skip looking for them.
    fn plain_var(&mut self, name: &str) -> String {
        self.var(name)
    }
    /// [`ExprEnv::plain_var`] appended to `out` (a buffer from [`ExprEnv::buffer`]).
    fn plain_var_into(&mut self, name: &str, out: &mut String) {
        out.push_str(&self.plain_var(name));
    }
    /// An empty string buffer, perhaps one given back earlier with [`ExprEnv::recycle`].
    fn buffer(&mut self) -> String {
        String::new()
    }
    /// Takes back a buffer the evaluator no longer needs.
    fn recycle(&mut self, _buffer: String) {}
    /// `$${name}`: the global variable, "" when missing.
    fn global(&mut self, name: &str) -> String;
    /// `$N`: the invocation argument, "" when missing.
    fn arg(&self, n: usize) -> String;
    /// Wall clock in microseconds since the epoch (virtual in the simulator).
    fn now_micros(&mut self) -> i64;
    /// IANA zone for the date helpers (flow `timezone`, else channel `timezone`); `None`
    /// means the system's.
    fn timezone(&self) -> Option<String>;
    /// The call's sandbox, created lazily by the env.
    fn js(&mut self) -> &mut crate::js::JsSandbox;
}

/// A compiled expression. `Send + Sync`: compiled once at flow load, evaluated on many
/// threads.
#[derive(Debug)]
pub struct Expression {
    source: String,
    inner: Inner,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub vars: Vec<String>,
    pub globals: Vec<String>,
    pub helpers: Vec<Helper>,
    /// Argument numbers in `__rf_a` order.
    args: Vec<usize>,
    native: Option<Node>,
    /// The native form flattened, when it stays in the flat subset.
    flat: Option<Box<[flat::FlatOp]>>,
    script: Script,
}

impl Expression {
    /// Compiles an expression. Errors are syntax errors (with line and column), bad date
    /// helper arguments, or an empty expression.
    pub fn compile(source: &str) -> Result<Expression, String> {
        if source.trim().is_empty() {
            return Err("empty expression".to_string());
        }
        let tokens =
            tokenize(source, Mode::Expression).map_err(|e| format!("syntax error: {e}"))?;
        let mut vars = Vec::new();
        let mut globals = Vec::new();
        let mut helpers = Vec::new();
        let mut helper_starts = Vec::new();
        let mut args: Vec<usize> = Vec::new();
        let mut js = String::with_capacity(source.len() + 96);
        js.push_str("(function (__rf_v, __rf_g, __rf_a, __rf_d) { return (\n");
        let mut copied = 0;
        for t in &tokens {
            let replacement = match &t.tok {
                Tok::Var(name) => format!(" __rf_v[{}] ", slot(&mut vars, name)),
                Tok::Global(name) => format!(" __rf_g[{}] ", slot(&mut globals, name)),
                Tok::Arg(n) => {
                    let k = args.iter().position(|a| a == n).unwrap_or_else(|| {
                        args.push(*n);
                        args.len() - 1
                    });
                    format!(" __rf_a[{k}] ")
                }
                Tok::Helper { name, arg } => {
                    helpers.push(dates::parse_helper(name, arg)?);
                    helper_starts.push(t.start);
                    format!(" __rf_d[{}] ", helpers.len() - 1)
                }
                Tok::Template(subs) => {
                    for (start, end, name) in subs {
                        js.push_str(&source[copied..*start]);
                        js.push_str(&format!("${{__rf_v[{}]}}", slot(&mut vars, name)));
                        copied = *end;
                    }
                    continue;
                }
                _ => continue,
            };
            js.push_str(&source[copied..t.start]);
            js.push_str(&replacement);
            copied = t.end;
        }
        js.push_str(&source[copied..]);
        js.push_str("\n); })");
        let script = Script::new(js, 1).map_err(|e| format!("syntax error: {e}"))?;
        let names = Names {
            vars: &vars,
            globals: &globals,
            helper_starts: &helper_starts,
        };
        let native = parse::parse(&tokens, &names).ok();
        let flat = native.as_ref().and_then(|n| flat::flatten(n, &vars));
        Ok(Expression {
            source: source.to_string(),
            inner: Inner {
                vars,
                globals,
                helpers,
                args,
                native,
                flat,
                script,
            },
        })
    }

    /// JavaScript truthiness of the value.
    pub fn eval_bool(&self, env: &mut dyn ExprEnv) -> Result<bool, String> {
        if let Some(v) = self.eval_native(env)? {
            return Ok(v.truthy());
        }
        match self.eval_engine(env, true)? {
            ExprValue::Bool(b) => Ok(b),
            ExprValue::Text(_) => Err("JavaScript engine failure: wrong result kind".into()),
        }
    }

    /// `String(value)`.
    pub fn eval_string(&self, env: &mut dyn ExprEnv) -> Result<String, String> {
        if let Some(v) = self.eval_native(env)? {
            return Ok(v.into_string());
        }
        match self.eval_engine(env, false)? {
            ExprValue::Text(s) => Ok(s),
            ExprValue::Bool(_) => Err("JavaScript engine failure: wrong result kind".into()),
        }
    }

    /// True when the expression is evaluated natively (the engine is only used for rare
    /// values the native form leaves to it, such as regex subjects above U+FFFF).
    pub fn is_native(&self) -> bool {
        self.inner.native.is_some()
    }

    /// Native, and without the expression-only syntax (`$N`, `&helper()`), so the same text
    /// means the same as a JavaScript function's `return` value.
    pub(crate) fn is_native_function_body(&self) -> bool {
        self.is_native() && self.inner.args.is_empty() && self.inner.helpers.is_empty()
    }

    /// The native value as a `js` step's result text (`undefined` → "", else
    /// `String(value)`); `None` when only the engine can tell: no native form, a value the
    /// native form leaves to it, or an array (JSON as a `js` result).
    pub(crate) fn native_result_text(
        &self,
        env: &mut dyn ExprEnv,
    ) -> Result<Option<String>, String> {
        Ok(match self.eval_native(env)? {
            None | Some(Val::Arr(_)) => None,
            Some(Val::Undefined) => Some(String::new()),
            Some(v) => Some(v.into_string()),
        })
    }

    /// Evaluates on the embedded engine even when a native form exists (agreement tests,
    /// benchmarks): `String(value)`.
    #[doc(hidden)]
    pub fn eval_string_on_engine(&self, env: &mut dyn ExprEnv) -> Result<String, String> {
        match self.eval_engine(env, false)? {
            ExprValue::Text(s) => Ok(s),
            ExprValue::Bool(_) => Err("JavaScript engine failure: wrong result kind".into()),
        }
    }

    /// Like [`Expression::eval_bool`], always on the embedded engine.
    #[doc(hidden)]
    pub fn eval_bool_on_engine(&self, env: &mut dyn ExprEnv) -> Result<bool, String> {
        match self.eval_engine(env, true)? {
            ExprValue::Bool(b) => Ok(b),
            ExprValue::Text(_) => Err("JavaScript engine failure: wrong result kind".into()),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The channel variables the expression reads.
    pub fn variables(&self) -> &[String] {
        &self.inner.vars
    }

    fn eval_native(&self, env: &mut dyn ExprEnv) -> Result<Option<Val<'_>>, String> {
        let Some(node) = &self.inner.native else {
            return Ok(None);
        };
        let mut cx = Cx { env, clock: None };
        let value = match &self.inner.flat {
            Some(ops) => flat::run(ops, &mut cx),
            None => eval::eval(&self.inner, node, &mut cx),
        };
        match value {
            Ok(v) => Ok(Some(v)),
            Err(Bail::Engine) => Ok(None),
            Err(Bail::Error(e)) => Err(e),
        }
    }

    fn eval_engine(&self, env: &mut dyn ExprEnv, want_bool: bool) -> Result<ExprValue, String> {
        let inner = &self.inner;
        let vars = inner.vars.iter().map(|n| env.var(n)).collect();
        let globals = inner.globals.iter().map(|n| env.global(n)).collect();
        let args = inner.args.iter().map(|n| env.arg(*n)).collect();
        let now = env.now_micros();
        let mut helpers = Vec::with_capacity(inner.helpers.len());
        if !inner.helpers.is_empty() {
            let zone = Zone::resolve(env.timezone().as_deref())?;
            for h in &inner.helpers {
                helpers.push(dates::eval(h, zone, now));
            }
        }
        let input = ExprInput {
            vars,
            globals,
            args,
            helpers,
            now_ms: now as f64 / 1000.0,
        };
        env.js().eval_expr(&inner.script, input, want_bool)
    }
}
