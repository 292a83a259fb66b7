//! A flat form of the commonest expressions (variables, constants, `!`, `&&`, `||` and the
//! binary operators), evaluated on a small value stack. The tree walk of [`super::eval`]
//! chases one heap pointer per node; this form keeps a whole expression in one contiguous
//! slice, which is what makes a compound `if` cheap (a step's expression is usually cold in
//! the cache). Semantics are the tree's: every operator goes through the same functions.

use std::borrow::Cow;

use super::eval::{Bail, Cx, binary, binary_ref};
use super::parse::{Bin, Node};
use super::value::Val;

/// Deepest value stack a flat program may need.
const STACK: usize = 8;

#[derive(Debug)]
pub(crate) enum FlatOp {
    Const(Val<'static>),
    /// A channel variable by plain name (no JSON path or `.uri()`).
    Var(Box<str>),
    /// A channel variable whose name needs the template rules.
    VarPath(Box<str>),
    Not,
    Bin(Bin),
    /// `&&`: if the top is falsy, keep it and jump; else drop it and go on.
    AndJump(u32),
    /// `||`: if the top is truthy, keep it and jump; else drop it and go on.
    OrJump(u32),
}

/// Flattens `node` when it stays inside the subset and fits the stack.
pub(crate) fn flatten(node: &Node, vars: &[String]) -> Option<Box<[FlatOp]>> {
    let mut ops = Vec::new();
    let depth = emit(node, vars, &mut ops)?;
    (depth <= STACK).then(|| ops.into_boxed_slice())
}

/// Appends the ops of `node`; returns the stack depth it needs.
fn emit(node: &Node, vars: &[String], ops: &mut Vec<FlatOp>) -> Option<usize> {
    Some(match node {
        Node::Const(v) => {
            ops.push(FlatOp::Const(v.clone()));
            1
        }
        Node::Var(i) => {
            let name = vars.get(*i)?;
            ops.push(if name.contains(['.', '(']) {
                FlatOp::VarPath(name.as_str().into())
            } else {
                FlatOp::Var(name.as_str().into())
            });
            1
        }
        Node::Not(x) => {
            let d = emit(x, vars, ops)?;
            ops.push(FlatOp::Not);
            d
        }
        Node::Bin(op, a, b) => {
            let da = emit(a, vars, ops)?;
            let db = emit(b, vars, ops)?;
            ops.push(FlatOp::Bin(*op));
            da.max(db + 1)
        }
        Node::And(a, b) | Node::Or(a, b) => {
            let da = emit(a, vars, ops)?;
            let at = ops.len();
            ops.push(FlatOp::AndJump(0));
            let db = emit(b, vars, ops)?;
            let end = u32::try_from(ops.len()).ok()?;
            ops[at] = if matches!(node, Node::And(..)) {
                FlatOp::AndJump(end)
            } else {
                FlatOp::OrJump(end)
            };
            da.max(db)
        }
        _ => return None,
    })
}

/// Runs a flat program.
// Kept out of line: inlined into `eval_native` it ran about 20 % slower (dispatch bench).
#[inline(never)]
pub(crate) fn run<'a>(ops: &'a [FlatOp], cx: &mut Cx) -> Result<Val<'a>, Bail> {
    let mut stack: [Val<'a>; STACK] = Default::default();
    let mut top = 0usize; // number of values on the stack
    let mut pc = 0usize;
    while let Some(op) = ops.get(pc) {
        pc += 1;
        match op {
            FlatOp::Const(v) => {
                stack[top] = super::eval::constant(v);
                top += 1;
            }
            FlatOp::Var(name) => {
                let mut buffer = cx.env.buffer();
                cx.env.plain_var_into(name, &mut buffer);
                stack[top] = Val::Str(Cow::Owned(buffer));
                top += 1;
            }
            FlatOp::VarPath(name) => {
                stack[top] = Val::Str(cx.env.var(name).into());
                top += 1;
            }
            FlatOp::Not => {
                let v = &mut stack[top - 1];
                *v = Val::Bool(!v.truthy());
            }
            FlatOp::Bin(op) => {
                let r = std::mem::take(&mut stack[top - 1]);
                let l = std::mem::take(&mut stack[top - 2]);
                top -= 1;
                stack[top - 1] = if *op == Bin::Add {
                    binary(*op, l, r)
                } else {
                    let v = binary_ref(*op, &l, &r);
                    recycle(cx, l);
                    recycle(cx, r);
                    v
                };
            }
            FlatOp::AndJump(end) => {
                if stack[top - 1].truthy() {
                    top -= 1;
                    recycle(cx, std::mem::take(&mut stack[top]));
                } else {
                    pc = *end as usize;
                }
            }
            FlatOp::OrJump(end) => {
                if stack[top - 1].truthy() {
                    pc = *end as usize;
                } else {
                    top -= 1;
                    recycle(cx, std::mem::take(&mut stack[top]));
                }
            }
        }
    }
    Ok(std::mem::take(&mut stack[0]))
}

/// Gives an owned string value's buffer back to the env for the next read.
fn recycle(cx: &mut Cx, value: Val) {
    if let Val::Str(Cow::Owned(buffer)) = value {
        cx.env.recycle(buffer);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::eval::{Bail, Cx, eval};
    use super::super::{ExprEnv, Expression};
    use crate::js::JsSandbox;

    struct Env {
        vars: HashMap<&'static str, &'static str>,
        sandbox: JsSandbox,
    }

    impl ExprEnv for Env {
        fn var(&mut self, name: &str) -> String {
            self.vars.get(name).map_or(String::new(), |v| v.to_string())
        }
        fn global(&mut self, _name: &str) -> String {
            String::new()
        }
        fn arg(&self, _n: usize) -> String {
            String::new()
        }
        fn now_micros(&mut self) -> i64 {
            0
        }
        fn timezone(&self) -> Option<String> {
            None
        }
        fn js(&mut self) -> &mut JsSandbox {
            &mut self.sandbox
        }
    }

    /// The flat form gives exactly what the tree walk gives (both use the same operators;
    /// this guards the stack discipline and the `&&`/`||` jumps).
    #[test]
    fn flat_programs_agree_with_the_tree() {
        let mut env = Env {
            vars: HashMap::from([("a", "3"), ("b", "2"), ("e", ""), ("s", "x y"), ("n", "-0")]),
            sandbox: JsSandbox::new(),
        };
        let sources = [
            "${a} > 2 && ${b} == '2'",
            "${a} > 2 && ${b} == '3'",
            "${e} || ${s}",
            "${e} && ${s}",
            "!${e} && (${a} == 3 || ${b} === 2)",
            "${a} + ${b} == '32'",
            "${a} - ${b} * 2 < 0 || !(${s} != 'x y')",
            "${n} == 0 && ${e} == 0 && ${e} !== 0",
            "(${a} > 1 && ${b} > 1) && (${a} > ${b} || ${b} > ${a}) && ${s}",
            "${missing} == ''",
        ];
        for source in sources {
            let e = Expression::compile(source).unwrap();
            assert!(e.inner.flat.is_some(), "{source} should be flat");
            let flat = e.eval_string(&mut env).unwrap();
            let node = e.inner.native.as_ref().unwrap();
            let mut cx = Cx {
                env: &mut env,
                clock: None,
            };
            let tree = match eval(&e.inner, node, &mut cx) {
                Ok(v) => v.into_string(),
                Err(Bail::Engine) => panic!("{source}: tree bailed"),
                Err(Bail::Error(m)) => panic!("{source}: {m}"),
            };
            assert_eq!(flat, tree, "{source}");
            assert_eq!(flat, e.eval_string_on_engine(&mut env).unwrap(), "{source}");
        }
        // shapes outside the subset stay on the tree
        for source in ["${s}.length > 1", "parseInt(${a}) > 1", "${a} ? 1 : 2"] {
            assert!(
                Expression::compile(source).unwrap().inner.flat.is_none(),
                "{source}"
            );
        }
    }
}
