//! A test environment for expressions and `js` bodies.
#![allow(dead_code)]

use std::collections::HashMap;

use rustflow_engine::expr::ExprEnv;
use rustflow_engine::js::{JsLimits, JsSandbox};

pub struct TestEnv {
    pub vars: HashMap<String, String>,
    pub globals: HashMap<String, String>,
    pub args: Vec<String>,
    pub now_micros: i64,
    pub tz: Option<String>,
    pub sandbox: JsSandbox,
    pub var_reads: usize,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            vars: HashMap::new(),
            globals: HashMap::new(),
            args: Vec::new(),
            // 2026-11-27 23:00:00 UTC, a Friday
            now_micros: 1_795_820_400_000_000,
            tz: Some("UTC".to_string()),
            sandbox: JsSandbox::new(),
            var_reads: 0,
        }
    }

    pub fn with_limits(limits: JsLimits) -> TestEnv {
        TestEnv {
            sandbox: JsSandbox::with_limits(limits),
            ..TestEnv::new()
        }
    }

    pub fn var(mut self, name: &str, value: &str) -> TestEnv {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl ExprEnv for TestEnv {
    fn var(&mut self, name: &str) -> String {
        self.var_reads += 1;
        self.vars.get(name).cloned().unwrap_or_default()
    }
    fn global(&mut self, name: &str) -> String {
        self.globals.get(name).cloned().unwrap_or_default()
    }
    fn arg(&self, n: usize) -> String {
        self.args.get(n).cloned().unwrap_or_default()
    }
    fn now_micros(&mut self) -> i64 {
        self.now_micros
    }
    fn timezone(&self) -> Option<String> {
        self.tz.clone()
    }
    fn js(&mut self) -> &mut JsSandbox {
        &mut self.sandbox
    }
}

/// Runs a `js` body the way the interpreter does (sandbox taken out of the env).
pub fn run_js(env: &mut TestEnv, body: &str) -> Result<String, String> {
    let f = rustflow_engine::js::JsFunction::compile(body)?;
    let mut sandbox = std::mem::take(&mut env.sandbox);
    let r = sandbox.call(&f, env);
    env.sandbox = sandbox;
    r
}
