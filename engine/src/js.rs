//! The embedded JavaScript engine (QuickJS through rquickjs) for `js` steps and for the
//! expressions the native evaluator does not cover.
//!
//! Sandboxing: a context with the standard ECMAScript built-ins only (no `std`/`os`
//! modules, so no file, network or process access), a time limit per run (interrupt
//! handler), a memory limit (QuickJS allocator limit, for the sandbox's whole runtime:
//! globals a body leaves behind count against later runs of the same call) and a stack
//! limit. `Date.now()` and `new Date()` read the call's clock (`ExprEnv::now_micros`, virtual
//! in the simulator). Values never
//! become code: `${name}` in a body is rewritten at load to an element of an argument
//! array, and the values are passed in as strings when the function is called.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{Array, Coerced, Context, Ctx, Function, Persistent, Runtime, Value};
use rustflow_js_budget::{Budget, BudgetAllocator};

use crate::expr::dates::{Zone, local_fields};
use crate::expr::lexer::{Mode, Tok, tokenize};
use crate::expr::value::Val;
use crate::expr::{ExprEnv, Expression};

/// Per-run limits of the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsLimits {
    /// Wall-clock budget of one run (one `js` step or one expression evaluation).
    pub time_limit_ms: u64,
    /// Heap limit of the sandbox's QuickJS runtime.
    pub memory_limit_bytes: usize,
}

impl Default for JsLimits {
    fn default() -> Self {
        JsLimits {
            time_limit_ms: 1000,
            memory_limit_bytes: 32 * 1024 * 1024,
        }
    }
}

/// QuickJS checks its own stack use against this, counted from where a run starts.
/// FreeSWITCH session threads have 240 KiB of stack (`SWITCH_THREAD_STACKSIZE`), part of
/// it already used by the core and the module when a step runs: deep recursion must end
/// in a RangeError well before the real stack does.
const STACK_LIMIT_BYTES: usize = 128 * 1024;
/// Memory above the limit for QuickJS to build and throw its out-of-memory error in (it can
/// crash when that fails: bellard/quickjs#533).
const MEMORY_RESERVE_BYTES: usize = 1 << 20;
/// Compiled functions kept per sandbox.
const CACHE_LIMIT: usize = 1024;

/// Source the sandbox compiles once and caches by `id`.
#[derive(Debug)]
pub(crate) struct Script {
    id: u64,
    source: String,
    /// Lines the wrapper adds before the user's first line.
    header_lines: usize,
}

impl Script {
    /// Wraps and syntax-checks `source`.
    pub(crate) fn new(source: String, header_lines: usize) -> Result<Script, String> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let script = Script {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            source,
            header_lines,
        };
        check_syntax(&script)?;
        Ok(script)
    }
}

/// A `js` step body, rewritten and syntax-checked at load. `Send + Sync`.
#[derive(Debug)]
pub struct JsFunction {
    script: Script,
    vars: Vec<String>,
    globals: Vec<String>,
    /// The expression of a body that is only `return EXPR;`, when it has a native form: it
    /// is evaluated like an `if` expression, without starting the call's sandbox (a QuickJS
    /// context costs far more than the whole evaluation). Like native expressions, it does
    /// not see globals an earlier body of the call replaced.
    native: Option<Expression>,
}

impl JsFunction {
    /// Compiles a function body (`return` gives the result). `${name}` / `$${name}` in the
    /// code become the channel / global variable's value as a string. A syntax error is
    /// returned with its line and column in the body.
    pub fn compile(body: &str) -> Result<JsFunction, String> {
        let tokens = tokenize(body, Mode::Function)?;
        let mut vars: Vec<String> = Vec::new();
        let mut globals: Vec<String> = Vec::new();
        let mut out = String::with_capacity(body.len() + 96);
        out.push_str("(function (__rf_v, __rf_g, LocalDate) {\n");
        let mut copied = 0;
        for t in &tokens {
            match &t.tok {
                Tok::Var(name) => {
                    out.push_str(&body[copied..t.start]);
                    out.push_str(&format!(" __rf_v[{}] ", slot(&mut vars, name)));
                    copied = t.end;
                }
                Tok::Global(name) => {
                    out.push_str(&body[copied..t.start]);
                    out.push_str(&format!(" __rf_g[{}] ", slot(&mut globals, name)));
                    copied = t.end;
                }
                Tok::Template(subs) => {
                    for (start, end, name) in subs {
                        out.push_str(&body[copied..*start]);
                        out.push_str(&format!("${{__rf_v[{}]}}", slot(&mut vars, name)));
                        copied = *end;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&body[copied..]);
        out.push_str("\n})");
        let script = Script::new(out, 1)?;
        Ok(JsFunction {
            script,
            vars,
            globals,
            native: native_return(body),
        })
    }

    /// True when the body is evaluated without the JavaScript engine (see `native`).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The channel variables the body reads, in argument order.
    pub fn variables(&self) -> &[String] {
        &self.vars
    }

    /// Runs the body: natively when it can (see `native`), else with its variables resolved
    /// through `env` in `env`'s sandbox. An error or a value only the engine turns into text
    /// is left to the engine, so messages and results are the engine's.
    pub fn run(&self, env: &mut dyn ExprEnv) -> Result<String, String> {
        if let Some(expr) = &self.native {
            // The engine path fails on a bad time zone before running anything; so does this.
            Zone::resolve(env.timezone().as_deref())?;
            if let Ok(Some(text)) = expr.native_result_text(env) {
                return Ok(text);
            }
        }
        let input = self.resolve(env)?;
        env.js().run_function(self, input)
    }

    fn resolve(&self, env: &mut dyn ExprEnv) -> Result<FunctionInput, String> {
        let zone = Zone::resolve(env.timezone().as_deref())?;
        let now = env.now_micros();
        Ok(FunctionInput {
            vars: self.vars.iter().map(|n| env.var(n)).collect(),
            globals: self.globals.iter().map(|n| env.global(n)).collect(),
            now_ms: now as f64 / 1000.0,
            local: local_fields(zone, now),
        })
    }
}

/// The expression of a body that is `return EXPR` (an optional `;`) on one line, when it has
/// a native form and means the same in a function body: no `$N` and no `&helper()`, which are
/// expression-only syntax. Anything else (statements, `return` then a line break, which
/// returns `undefined`) stays with the engine.
fn native_return(body: &str) -> Option<Expression> {
    let rest = body.trim().strip_prefix("return")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim();
    let expr = rest.strip_suffix(';').unwrap_or(rest);
    if expr.trim().is_empty() || expr.contains(['\n', '\r', ';', '\u{2028}', '\u{2029}']) {
        return None;
    }
    let expr = Expression::compile(expr).ok()?;
    expr.is_native_function_body().then_some(expr)
}

/// Index of `name` in `table`, adding it once.
pub(crate) fn slot(table: &mut Vec<String>, name: &str) -> usize {
    match table.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            table.push(name.to_string());
            table.len() - 1
        }
    }
}

struct FunctionInput {
    vars: Vec<String>,
    globals: Vec<String>,
    now_ms: f64,
    local: [i32; 6],
}

/// What an expression needs at run time, resolved by the caller.
pub(crate) struct ExprInput<'a> {
    pub vars: Vec<String>,
    pub globals: Vec<String>,
    pub args: Vec<String>,
    pub helpers: Vec<Val<'a>>,
    pub now_ms: f64,
}

/// The result an expression evaluation is converted to.
pub(crate) enum ExprValue {
    Bool(bool),
    Text(String),
}

/// One per call (session thread). Created cheaply; the QuickJS runtime is started on
/// first use and reused for every later run of the call.
pub struct JsSandbox {
    limits: JsLimits,
    state: Option<State>,
}

/// Field order is drop order: the persistent handles must go before the context and the
/// runtime they live in.
struct State {
    cache: HashMap<u64, Persistent<Function<'static>>>,
    set_clock: Persistent<Function<'static>>,
    local_date: Persistent<Function<'static>>,
    to_text: Persistent<Function<'static>>,
    context: Context,
    runtime: Runtime,
    deadline: Deadline,
    timed_out: Rc<Cell<bool>>,
    /// Every byte the runtime holds, against `memory_limit_bytes` (see rustflow_js_budget).
    budget: Arc<Budget>,
}

/// Installed once per sandbox: a `Date` whose clock is the call's (virtual in the
/// simulator), the original's `LocalDate()` helper, and the result-to-text rule.
const PRELUDE: &str = r#"(function () {
  var RealDate = Date, nowMs = 0, parts = [1970, 1, 1, 0, 0, 0];
  function CallDate(...a) {
    if (!new.target) return new RealDate(nowMs).toString();
    return a.length === 0 ? new RealDate(nowMs) : new RealDate(...a);
  }
  CallDate.prototype = RealDate.prototype;
  CallDate.now = function () { return nowMs; };
  CallDate.UTC = RealDate.UTC;
  CallDate.parse = RealDate.parse;
  globalThis.Date = CallDate;
  return [
    function (ms, p) { nowMs = ms; parts = p; },
    function LocalDate() {
      return new RealDate(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]);
    },
    function (v) {
      if (v === undefined) return "";
      if (v instanceof RealDate) return isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
      if (v !== null && typeof v === "object") {
        var s = JSON.stringify(v);
        return s === undefined ? "" : s;
      }
      return String(v);
    }
  ];
})()"#;

fn sloppy() -> EvalOptions {
    let mut opts = EvalOptions::default();
    opts.strict = false;
    opts.global = true;
    opts
}

impl Default for JsSandbox {
    fn default() -> Self {
        JsSandbox::new()
    }
}

impl JsSandbox {
    /// A sandbox with the default limits (1 s, 32 MiB).
    pub fn new() -> JsSandbox {
        JsSandbox::with_limits(JsLimits::default())
    }

    pub fn with_limits(limits: JsLimits) -> JsSandbox {
        JsSandbox {
            limits,
            state: None,
        }
    }

    pub fn limits(&self) -> JsLimits {
        self.limits
    }

    /// Whether this sandbox has started its QuickJS runtime (it does on first use).
    pub fn is_started(&self) -> bool {
        self.state.is_some()
    }

    /// Runs a `js` body: its variables are read through `env` first (the sandbox itself
    /// is not reached through `env` here). The result is text: `undefined` → "", objects
    /// and arrays → JSON, dates → ISO 8601, everything else → `String(value)`; a Promise
    /// is an error.
    pub fn call(&mut self, f: &JsFunction, env: &mut dyn ExprEnv) -> Result<String, String> {
        let input = f.resolve(env)?;
        self.run_function(f, input)
    }

    fn run_function(&mut self, f: &JsFunction, input: FunctionInput) -> Result<String, String> {
        self.run(
            &f.script,
            input.now_ms,
            Some(input.local),
            |ctx, func, st| {
                let local_date = st.local_date.clone().restore(ctx)?;
                let value: Value = func.call((input.vars, input.globals, local_date))?;
                if value.is_promise() {
                    // nothing runs a promise's jobs here: its outcome would be lost
                    return Err(rquickjs::Exception::throw_type(
                        ctx,
                        "a js step cannot return a Promise: asynchronous code is not run",
                    ));
                }
                let text: Function = st.to_text.clone().restore(ctx)?;
                text.call::<_, String>((value,))
            },
        )
    }

    /// Evaluates an expression script with pre-resolved inputs.
    pub(crate) fn eval_expr(
        &mut self,
        script: &Script,
        input: ExprInput,
        want_bool: bool,
    ) -> Result<ExprValue, String> {
        self.run(script, input.now_ms, None, move |ctx, func, _| {
            let helpers = Array::new(ctx.clone())?;
            for (i, h) in input.helpers.iter().enumerate() {
                let v: Value = match h {
                    Val::Undefined => Value::new_undefined(ctx.clone()),
                    Val::Null => Value::new_null(ctx.clone()),
                    Val::Bool(b) => Value::new_bool(ctx.clone(), *b),
                    Val::Num(n) => Value::new_float(ctx.clone(), *n),
                    Val::Str(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
                    Val::Arr(a) => rquickjs::IntoJs::into_js(a.clone(), ctx)?,
                };
                helpers.set(i, v)?;
            }
            let value: Value = func.call((input.vars, input.globals, input.args, helpers))?;
            if want_bool {
                Ok(ExprValue::Bool(
                    rquickjs::FromJs::from_js(ctx, value).map(|Coerced(b): Coerced<bool>| b)?,
                ))
            } else {
                Ok(ExprValue::Text(
                    rquickjs::FromJs::from_js(ctx, value).map(|Coerced(s): Coerced<String>| s)?,
                ))
            }
        })
    }

    fn state(&mut self) -> Result<&mut State, String> {
        if self.state.is_none() {
            self.state = Some(State::start(self.limits)?);
        }
        self.state
            .as_mut()
            .ok_or_else(|| "JavaScript engine failure: no runtime".to_string())
    }

    /// Runs `body` with the script's compiled function under the time limit.
    fn run<T>(
        &mut self,
        script: &Script,
        now_ms: f64,
        local: Option<[i32; 6]>,
        body: impl for<'js> FnOnce(&Ctx<'js>, Function<'js>, &State) -> rquickjs::Result<T>,
    ) -> Result<T, String> {
        let limits = self.limits;
        let st = self.state()?;
        st.timed_out.set(false);
        st.budget.rearm();
        st.deadline.set(Some(
            Instant::now() + Duration::from_millis(limits.time_limit_ms),
        ));
        let context = st.context.clone();
        let result = context.with(|ctx| {
            let attempt = (|| -> rquickjs::Result<T> {
                let func = match st.cache.get(&script.id) {
                    Some(f) => f.clone().restore(&ctx)?,
                    None => {
                        let f: Function =
                            ctx.eval_with_options(script.source.as_str(), sloppy())?;
                        if st.cache.len() >= CACHE_LIMIT {
                            st.cache.clear();
                        }
                        st.cache
                            .insert(script.id, Persistent::save(&ctx, f.clone()));
                        f
                    }
                };
                if local.is_some() || now_ms != 0.0 {
                    let set_clock: Function = st.set_clock.clone().restore(&ctx)?;
                    set_clock
                        .call::<_, ()>((now_ms, local.unwrap_or([1970, 1, 1, 0, 0, 0]).to_vec()))?;
                }
                body(&ctx, func, st)
            })();
            attempt.map_err(|e| describe_error(&ctx, e, Position::Run(script)))
        });
        st.deadline.set(None);
        match result {
            Ok(v) => Ok(v),
            Err(_) if st.timed_out.get() => Err(format!(
                "time limit of {} ms exceeded",
                limits.time_limit_ms
            )),
            Err(msg) if st.budget.exceeded() || msg.contains("out of memory") => {
                st.runtime.run_gc();
                Err(format!(
                    "memory limit of {} bytes exceeded",
                    limits.memory_limit_bytes
                ))
            }
            Err(msg) => Err(msg),
        }
    }
}

impl State {
    fn start(limits: JsLimits) -> Result<State, String> {
        let fail = |e: rquickjs::Error| format!("JavaScript engine failure: {e}");
        let budget = Budget::new(limits.memory_limit_bytes, MEMORY_RESERVE_BYTES);
        let runtime =
            Runtime::new_with_alloc(BudgetAllocator::new(budget.clone())).map_err(fail)?;
        // QuickJS's own limit only backs the budget up: it is never reached first.
        runtime.set_memory_limit(
            limits
                .memory_limit_bytes
                .saturating_add(2 * MEMORY_RESERVE_BYTES),
        );
        runtime.set_max_stack_size(STACK_LIMIT_BYTES);
        let deadline: Deadline = Rc::new(Cell::new(None));
        let timed_out = Rc::new(Cell::new(false));
        {
            let (deadline, timed_out, budget) =
                (deadline.clone(), timed_out.clone(), budget.clone());
            runtime.set_interrupt_handler(Some(Box::new(move || {
                let expired = deadline.get().is_some_and(|d| Instant::now() >= d);
                if expired {
                    timed_out.set(true);
                }
                // A script that caught the out-of-memory error must not go on in the reserve.
                expired || budget.interrupt()
            })));
        }
        let context = Context::full(&runtime).map_err(fail)?;
        let hooks = context.with(|ctx| -> Result<_, String> {
            let arr: Array = ctx
                .eval_with_options(PRELUDE, sloppy())
                .map_err(|e| describe_error(&ctx, e, Position::None))?;
            let get = |i: usize| -> Result<Persistent<Function<'static>>, String> {
                let f: Function = arr
                    .get(i)
                    .map_err(|e| describe_error(&ctx, e, Position::None))?;
                Ok(Persistent::save(&ctx, f))
            };
            Ok((get(0)?, get(1)?, get(2)?))
        })?;
        Ok(State {
            runtime,
            context,
            cache: HashMap::new(),
            set_clock: hooks.0,
            local_date: hooks.1,
            to_text: hooks.2,
            deadline,
            timed_out,
            budget,
        })
    }
}

/// How a failure's position is reported.
#[derive(Clone, Copy)]
enum Position<'s> {
    /// No user script (the prelude).
    None,
    /// A run: line and column of the failing frame.
    Run(&'s Script),
    /// A syntax check: QuickJS's column there is where its parser stopped, not the bad
    /// token, so only the line is given.
    Syntax(&'s Script),
}

/// "TypeError: x is not a function (line 3, column 9)", positions in the user's text.
fn describe_error(ctx: &Ctx, e: rquickjs::Error, at: Position) -> String {
    if !e.is_exception() {
        return format!("JavaScript engine failure: {e}");
    }
    let thrown = ctx.catch();
    if let Some(exc) = thrown.as_exception() {
        let name: String = exc
            .get::<_, Option<Coerced<String>>>("name")
            .ok()
            .flatten()
            .map_or_else(|| "Error".to_string(), |c| c.0);
        let message = exc.message().unwrap_or_default();
        let position = exc
            .stack()
            .as_deref()
            .and_then(|s| user_position(s, at))
            .unwrap_or_default();
        return format!("{name}: {message}{position}");
    }
    // QuickJS raises a bare null when it runs out of memory while building the error
    // (a body's own `throw null` is therefore reported as memory exhaustion too)
    if thrown.is_null() {
        return "out of memory".to_string();
    }
    let text = rquickjs::FromJs::from_js(ctx, thrown)
        .map(|Coerced(s): Coerced<String>| s)
        .unwrap_or_else(|_| "exception".to_string());
    format!("uncaught exception: {text}")
}

/// The first `eval_script:line:col` of a QuickJS stack trace (1-based line, 1-based UTF-8
/// byte column of the wrapped source), as " (line L[, column C])" of the user's text.
fn user_position(stack: &str, at: Position) -> Option<String> {
    let script = match at {
        Position::None => return None,
        Position::Run(s) | Position::Syntax(s) => s,
    };
    let frame = stack.lines().find(|l| l.contains("eval_script"))?;
    let tail = &frame[frame.find("eval_script")? + "eval_script".len()..];
    let mut nums = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().ok());
    let wrapped_line = nums.next()??;
    let byte_col = nums.next().flatten().unwrap_or(1);
    // the wrapper adds `header_lines` before the text and one line after it
    let user_lines = script
        .source
        .lines()
        .count()
        .saturating_sub(script.header_lines + 1)
        .max(1);
    let line = wrapped_line
        .saturating_sub(script.header_lines)
        .clamp(1, user_lines);
    if let Position::Syntax(_) = at {
        return Some(format!(" (line {line})"));
    }
    let text = script
        .source
        .lines()
        .nth(wrapped_line.saturating_sub(1))
        .unwrap_or("");
    let mut cut = byte_col.saturating_sub(1).min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(format!(
        " (line {line}, column {})",
        text[..cut].chars().count() + 1
    ))
}

type Deadline = Rc<Cell<Option<Instant>>>;

/// A small runtime per loading thread, used only to syntax-check scripts. Field order is
/// drop order (context before runtime).
struct Checker {
    context: Context,
    _runtime: Runtime,
    deadline: Deadline,
}

thread_local! {
    static CHECKER: RefCell<Option<Checker>> = const { RefCell::new(None) };
}

/// Compiles the wrapped source without running the body: the wrapper is a function
/// expression, and the lexer has checked that the body's brackets balance, so it cannot
/// close the wrapper early. (Were the lexer fooled, by a `/` it reads differently from
/// the engine, the escaped code would only run here, in a runtime with no host access,
/// under a 1 s deadline: nothing the author could not also write inside the body.)
fn check_syntax(script: &Script) -> Result<(), String> {
    CHECKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let fail = |e: rquickjs::Error| format!("JavaScript engine failure: {e}");
            let rt = Runtime::new().map_err(fail)?;
            rt.set_memory_limit(64 * 1024 * 1024);
            rt.set_max_stack_size(STACK_LIMIT_BYTES);
            let deadline: Deadline = Rc::new(Cell::new(None));
            let d = deadline.clone();
            rt.set_interrupt_handler(Some(Box::new(move || {
                d.get().is_some_and(|t| Instant::now() >= t)
            })));
            let ctx = Context::full(&rt).map_err(fail)?;
            *slot = Some(Checker {
                context: ctx,
                _runtime: rt,
                deadline,
            });
        }
        let Some(Checker {
            context: ctx,
            deadline,
            ..
        }) = slot.as_ref()
        else {
            return Err("JavaScript engine failure: no checker".to_string());
        };
        deadline.set(Some(Instant::now() + Duration::from_secs(1)));
        let r = ctx.with(|ctx| {
            ctx.eval_with_options::<Value, _>(script.source.as_str(), sloppy())
                .map(|_| ())
                .map_err(|e| syntax_message(&ctx, e, script))
        });
        deadline.set(None);
        r
    })
}

fn syntax_message(ctx: &Ctx, e: rquickjs::Error, script: &Script) -> String {
    describe_error(ctx, e, Position::Syntax(script))
}

impl JsSandbox {
    /// Calls a built-in script with string arguments; the result is `String(value)`.
    pub(crate) fn call_strings(
        &mut self,
        script: &Script,
        args: Vec<String>,
    ) -> Result<String, String> {
        self.run(script, 0.0, None, move |ctx, func, _| {
            let mut a = rquickjs::function::Args::new(ctx.clone(), args.len());
            for s in args {
                a.push_arg(s)?;
            }
            let value: Value = func.call_arg(a)?;
            rquickjs::FromJs::from_js(ctx, value).map(|Coerced(s): Coerced<String>| s)
        })
    }
}
