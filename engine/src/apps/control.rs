//! Control flow: `if`, `switch`, `while`, `goto`, `break`, `execute`, `schema`, and the
//! definitions `function` and `trigger`.
//!
//! These steps are the interpreter's own instruction set (jumps, counters, forks): they
//! compile to `Code` variants of their own (not a family `Step`), so the hottest steps
//! dispatch in one `match`; their run methods below are inlined into `dispatch`.

use serde_json::{Value as Json, json};

use super::{App, At, Family};
use crate::compile::{AppCx, Compiler, DEFAULT_WHILE_PASSES, find_ci};
use crate::flow::Flow;
use crate::graph::scalar;
use crate::host::LogLevel;
use crate::interp::{Control, MAX_DEPTH, Machine, Pending, StepError, StepResult};
use crate::json::{self, Kind, pointer_join};
use crate::program::*;
use crate::schema::{actions, args, flag, no_args, number, reference, text};
use crate::template::Template;

/// The control applications.
pub(crate) const APPS: &[App] = &[
    App::step(
        Family::Control,
        "if",
        "Runs `then` when the expression is true, else `else`.",
        |c, acx, at| c.compile_if(at.unit, acx),
        schema_if,
    )
    .nested(&["then", "else"])
    .label(|args| scalar(args, "expression")),
    App::step(
        Family::Control,
        "switch",
        "Runs the case whose key equals the expanded variable, else `default`.",
        |c, acx, at| c.compile_switch(at.unit, acx),
        schema_switch,
    )
    .nested(&["case.*"])
    .label(|args| scalar(args, "variable")),
    App::step(
        Family::Control,
        "while",
        "Do-while loop: runs `do`, then repeats while the condition is true.",
        |c, acx, at| c.compile_while(at.unit, at.index, acx),
        schema_while,
    )
    .nested(&["do"])
    .label(|args| scalar(args, "condition")),
    App::step(
        Family::Control,
        "goto",
        "Continues at the application with this tag, across nesting.",
        |c, acx, at| c.app_goto(acx, at),
        schema_goto,
    ),
    App::step(
        Family::Control,
        "break",
        "Stops the current flow object (also written as the reserved key `break: true`).",
        |_, _, _| Some(Code::Break),
        no_args,
    ),
    App::step(
        Family::Control,
        "execute",
        "Runs a function defined with `function`.",
        |c, acx, at| c.app_execute(acx, at),
        schema_execute,
    )
    .label(|args| scalar(args, "name")),
    App::step(
        Family::Control,
        "schema",
        "Runs another flow by id.",
        |c, acx, at| c.app_schema(acx, at),
        schema_schema,
    ),
    App::definition(
        Family::Control,
        "function",
        "Defines a function (its actions run on `execute`).",
        |c, acx| c.define_function(acx),
        schema_function,
    )
    .nested(&["actions"])
    .label(|args| scalar(args, "name")),
    App::definition(
        Family::Control,
        "trigger",
        "Defines handlers; `disconnected` runs after hangup.",
        |c, acx| c.define_trigger(acx),
        schema_trigger,
    )
    .nested(&["disconnected", "commands.*"]),
];

/// Test hooks: `_testPanic` panics, to prove the module's panic guard.
#[cfg(feature = "test-hooks")]
pub(crate) const TEST_HOOKS: &[App] = &[App::step(
    Family::Control,
    "_testPanic",
    "Panics (test-hooks builds only).",
    |_, _, _| Some(Code::TestPanic),
    no_args,
)];

/// The test at the end of a `while` body.
#[derive(Debug)]
pub(crate) struct WhileTest {
    /// Index into `Flow::expressions`.
    pub condition: usize,
    /// Op index of the body's first step.
    pub body: usize,
    pub max_passes: u64,
    /// Counter slot of the passes.
    pub slot: usize,
}

impl<'a> Compiler<'a> {
    pub(crate) fn app_goto(&mut self, acx: &AppCx<'a>, at: At) -> Option<Code> {
        let pointer = acx.pointer.as_str();
        let At { unit, index } = at;
        match &acx.value.kind {
            Kind::String(tag) if !tag.is_empty() => {
                self.units[unit].tag_refs.push((
                    index,
                    tag.clone(),
                    pointer.to_string(),
                    acx.value.start,
                    false,
                ));
                Some(Code::Goto(usize::MAX))
            }
            _ => {
                self.type_error(acx, acx.value, "a tag name (string)");
                None
            }
        }
    }

    pub(crate) fn app_execute(&mut self, acx: &AppCx<'a>, at: At) -> Option<Code> {
        let pointer = acx.pointer.as_str();
        let At { unit, index } = at;
        let members = self.object(acx)?;
        let name = match find_ci(members, "name") {
            Some(m) => match m.value.as_str() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        "`execute.name` must be a function name (a non-empty string)".to_string(),
                    );
                    return None;
                }
            },
            None => {
                self.missing(acx, "name");
                return None;
            }
        };
        let is_async = self.opt_const_bool(members, "async", pointer);
        self.executes.push((
            unit,
            index,
            name,
            pointer.to_string(),
            acx.value.start,
            is_async,
        ));
        None
    }

    pub(crate) fn app_schema(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Code> {
        let pointer = acx.pointer.as_str();
        let (id_value, is_async) = match acx.value.as_object() {
            Some(members) => {
                let Some(id) = find_ci(members, "id") else {
                    self.missing(acx, "id");
                    return None;
                };
                let is_async = self.opt_const_bool(members, "async", pointer);
                (&id.value, is_async)
            }
            None => (acx.value, false),
        };
        let id = self.text(id_value, pointer, "id")?;
        if let Some(literal) = id.as_literal() {
            let (line, column) = json::line_col(self.text, id_value.start);
            self.schema_refs.push(crate::flow::SchemaRef {
                id: literal.to_string(),
                pointer: pointer.to_string(),
                line,
                column,
            });
            if !crate::flow::is_valid_flow_id(literal) {
                self.error(
                    pointer,
                    id_value.start,
                    format!("`{literal}` is not a valid flow id"),
                );
                return None;
            }
        }
        Some(Code::Schema { id, is_async })
    }

    pub(crate) fn compile_if(&mut self, unit: usize, acx: &AppCx<'a>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let expr = self.expression_field(acx, members, "expression");
        self.compile_nested(unit, find_ci(members, "then"), pointer);
        let else_member = find_ci(members, "else");
        let jump = else_member.map(|_| self.push_jump(unit, pointer));
        let else_target = self.units[unit].ops.len();
        self.compile_nested(unit, else_member, pointer);
        let end = self.units[unit].ops.len();
        if let Some(jump) = jump {
            self.patch_jump(unit, jump, end);
        }
        Some(Code::If {
            expr: expr?,
            else_target,
            end,
        })
    }

    pub(crate) fn compile_switch(&mut self, unit: usize, acx: &AppCx<'a>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let variable = self.required_text(acx, members, "variable");
        let Some(case) = find_ci(members, "case") else {
            self.missing(acx, "case");
            return None;
        };
        let case_pointer = pointer_join(pointer, &case.key);
        let Some(branches) = case.value.as_object() else {
            self.error(
                &case_pointer,
                case.value.start,
                format!(
                    "`switch.case` must be an object of value → applications, found {}",
                    case.value.type_name()
                ),
            );
            return None;
        };
        let mut cases = Vec::new();
        let mut default = None;
        let mut jumps = Vec::new();
        for branch in branches {
            let start = self.units[unit].ops.len();
            self.compile_block(
                unit,
                &branch.value,
                &pointer_join(&case_pointer, &branch.key),
            );
            jumps.push(self.push_jump(unit, pointer));
            if branch.key == "default" {
                default = Some(start);
            } else {
                cases.push((branch.key.as_str().into(), start));
            }
        }
        let end = self.units[unit].ops.len();
        for jump in jumps {
            self.patch_jump(unit, jump, end);
        }
        Some(Code::Switch {
            variable: variable?,
            cases,
            default,
            end,
        })
    }

    pub(crate) fn compile_while(
        &mut self,
        unit: usize,
        index: usize,
        acx: &AppCx<'a>,
    ) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let condition = self.expression_field(acx, members, "condition");
        let max_passes = match find_ci(members, "maxSteps") {
            Some(m) => self.const_u64(&m.value, &pointer_join(pointer, &m.key), "maxSteps")?,
            None => DEFAULT_WHILE_PASSES,
        };
        let body = index + 1;
        let do_member = find_ci(members, "do");
        self.compile_nested(unit, do_member, pointer);
        if self.units[unit].ops.len() > body {
            let slot = self.units[unit].counters;
            self.units[unit].counters += 1;
            let condition = condition?;
            self.units[unit].ops.push(Op {
                pointer: pointer.into(),
                app: "while".into(),
                code: Code::WhileTest(WhileTest {
                    condition,
                    body,
                    max_passes,
                    slot,
                }),
                stop_after: false,
                limit: None,
            });
        }
        Some(Code::WhileEnter)
    }

    pub(crate) fn define_function(&mut self, acx: &AppCx<'a>) {
        let Some(members) = acx.value.as_object() else {
            self.type_error(acx, acx.value, "an object {name, actions}");
            return;
        };
        let name = match find_ci(members, "name") {
            Some(m) => match m.value.as_str() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => {
                    self.error(
                        &pointer_join(&acx.pointer, &m.key),
                        m.value.start,
                        "`function.name` must be a non-empty string".to_string(),
                    );
                    return;
                }
            },
            None => {
                self.missing(acx, "name");
                return;
            }
        };
        let Some(actions) = find_ci(members, "actions") else {
            self.missing(acx, "actions");
            return;
        };
        if self.functions.contains_key(&name) {
            self.error(
                &acx.pointer,
                acx.value.start,
                format!("function `{name}` is defined twice"),
            );
            return;
        }
        let unit = self.new_unit(&format!("function `{name}`"));
        self.functions.insert(name, unit);
        let pointer = pointer_join(&acx.pointer, &actions.key);
        self.function_defs.push((unit, &actions.value, pointer));
    }

    pub(crate) fn define_trigger(&mut self, acx: &AppCx<'a>) {
        let Some(members) = acx.value.as_object() else {
            self.type_error(acx, acx.value, "an object {disconnected: [...]}");
            return;
        };
        for member in members {
            let pointer = pointer_join(&acx.pointer, &member.key);
            match member.key.as_str() {
                "disconnected" => {
                    if self.disconnected.is_some() {
                        self.error(
                            &pointer,
                            member.value.start,
                            "a second `trigger.disconnected`; a flow has at most one".to_string(),
                        );
                        continue;
                    }
                    let unit = self.new_unit("trigger.disconnected");
                    self.disconnected = Some(unit);
                    self.function_defs.push((unit, &member.value, pointer));
                }
                "commands" => {
                    self.error(
                        &pointer,
                        member.value.start,
                        "`trigger.commands` is not supported in call flows (only `disconnected`)"
                            .to_string(),
                    );
                }
                other => self.error(
                    &pointer,
                    member.value.start,
                    format!("unknown trigger `{other}` (call flows know `disconnected`)"),
                ),
            }
        }
    }
}

impl Machine<'_> {
    #[inline]
    pub(crate) fn run_if(
        &mut self,
        flow: &Flow,
        expr: usize,
        else_target: usize,
        end: usize,
    ) -> StepResult {
        match flow.expressions[expr].eval_bool(self) {
            Ok(true) => Ok(Control::Next.noted("true")),
            Ok(false) => Ok(Control::Jump(else_target).noted("false")),
            Err(reason) => Err(StepError::FailedJump(
                format!("expression failed: {reason}"),
                end,
            )),
        }
    }

    #[inline]
    pub(crate) fn run_switch(
        &mut self,
        variable: &Template,
        cases: &[(Box<str>, usize)],
        default: Option<usize>,
        end: usize,
    ) -> StepResult {
        let value = self.expand(variable);
        let matched = cases.iter().find(|(key, _)| **key == *value);
        let (target, note) = match (matched, default) {
            (Some((_, target)), _) => (*target, "case"),
            (None, Some(target)) => (target, "default"),
            (None, None) => (end, "no match"),
        };
        Ok(Control::Jump(target).noted(note))
    }

    #[inline]
    pub(crate) fn run_while_test(
        &mut self,
        flow: &Flow,
        op: &Op,
        passes: &mut u64,
        test: &WhileTest,
    ) -> StepResult {
        *passes += 1;
        if *passes >= test.max_passes {
            if self.debug {
                let line = format!(
                    "flow {}: {}: while reached maxSteps ({}), leaving the loop",
                    flow.id, op.pointer, test.max_passes
                );
                self.host.log(LogLevel::Debug, &line);
            }
            return Ok(Control::Next.noted("maxSteps reached"));
        }
        match flow.expressions[test.condition].eval_bool(self) {
            Ok(true) => Ok(Control::Jump(test.body).noted("again")),
            Ok(false) => Ok(Control::Next.noted("done")),
            Err(reason) => Err(StepError::Failed(format!("condition failed: {reason}"))),
        }
    }

    pub(crate) fn run_execute(
        &mut self,
        unit: usize,
        function: &str,
        is_async: bool,
    ) -> StepResult {
        if self.depth >= MAX_DEPTH {
            return Err(StepError::Failed(format!(
                "function `{function}`: calls nested deeper than {MAX_DEPTH}"
            )));
        }
        if is_async {
            self.pending.push(Pending::Function(unit));
            return Ok(Control::Next.noted("async: runs after this step"));
        }
        Ok(Control::Call(unit).into())
    }

    pub(crate) fn run_schema(&mut self, id: &Template, is_async: bool) -> StepResult {
        let id = self.expand(id);
        let Some(other) = self.flows.get(&id).cloned() else {
            return Err(StepError::Failed(format!("flow `{id}` is not loaded")));
        };
        if self.depth >= MAX_DEPTH {
            return Err(StepError::Failed(format!(
                "schema `{id}`: flows nested deeper than {MAX_DEPTH}"
            )));
        }
        if is_async {
            if other.uses_media {
                return Err(StepError::Failed(format!(
                    "async schema `{id}` uses media; async forks may only contain non-media steps"
                )));
            }
            self.pending.push(Pending::Schema(other));
            return Ok(Control::Next.noted("async: runs after this step"));
        }
        Ok(Control::CallFlow(other).into())
    }
}

// ---- argument schemas ----

fn schema_if() -> Json {
    args(
        &[
            (
                "expression",
                text("JavaScript expression (`${var}`, `$N`, date helpers `&wday(2-6)` …)."),
            ),
            ("then", actions("Runs when the expression is true.")),
            ("else", actions("Runs when the expression is false.")),
        ],
        &["expression"],
    )
}

fn schema_switch() -> Json {
    args(
        &[
            (
                "variable",
                text("Expanded and compared exactly with the case keys."),
            ),
            (
                "case",
                json!({ "type": "object", "additionalProperties": reference("actions"),
                        "description": "Case value to applications; `default` when nothing matches." }),
            ),
        ],
        &["variable", "case"],
    )
}

fn schema_while() -> Json {
    args(
        &[
            (
                "condition",
                text("JavaScript expression tested after each pass."),
            ),
            ("do", actions("Loop body (runs at least once).")),
            ("maxSteps", number("Maximum passes (default 1000).")),
        ],
        &["condition"],
    )
}

fn schema_goto() -> Json {
    json!({ "type": "string", "description": "Tag of the application that runs next." })
}

fn schema_function() -> Json {
    args(
        &[
            ("name", text("Function name.")),
            ("actions", actions("Function body.")),
        ],
        &["name", "actions"],
    )
}

fn schema_execute() -> Json {
    args(
        &[
            ("name", text("Function name.")),
            (
                "async",
                flag("Run on a worker (only non-media steps allowed)."),
            ),
        ],
        &["name"],
    )
}

fn schema_trigger() -> Json {
    args(
        &[
            (
                "disconnected",
                actions("Runs after hangup (media applications refused)."),
            ),
            (
                "commands",
                json!({ "type": "object", "additionalProperties": reference("actions") }),
            ),
        ],
        &[],
    )
}

fn schema_schema() -> Json {
    args(
        &[
            (
                "id",
                json!({ "$ref": "#/$defs/scalar", "description": "Id of the flow to run." }),
            ),
            ("async", flag("Run without waiting.")),
        ],
        &["id"],
    )
}
