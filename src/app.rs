//! The dialplan application `rustflow`: `data` = `FLOW_ID [ARG ...]`.

use rustflow_engine::{Limits, is_valid_flow_id};

use crate::host::SessionHost;
use crate::state;
use crate::switch::guard;
use crate::switch::log::{self, Level};
use crate::switch::module::Application;
use crate::switch::session::{NORMAL_TEMPORARY_FAILURE, Session};

pub struct RustflowApp;

impl Application for RustflowApp {
    fn run(session: &Session<'_>, data: &str) {
        crate::test_hooks::panic_at("app");
        let Some(instance) = state::instance() else {
            log::session(session, Level::Error, "rustflow: the module is not loaded");
            return;
        };
        let mut words = data.split_whitespace();
        let Some(id) = words.next() else {
            instance.stats.add_error();
            log::session(
                session,
                Level::Error,
                "rustflow: no flow id given; usage: rustflow FLOW_ID [ARG ...]",
            );
            return;
        };
        // Checked before anything else: the id never reaches a path.
        if !is_valid_flow_id(id) {
            instance.stats.add_error();
            log::session(
                session,
                Level::Error,
                &format!(
                    "rustflow: invalid flow id {id:?}: an id is 1-128 characters of A-Z a-z 0-9 _ . - without \"..\""
                ),
            );
            return;
        }
        let snapshot = instance.current();
        let Some(flow) = snapshot.flows.get(id).cloned() else {
            instance.stats.add_error();
            log::session(
                session,
                Level::Error,
                &format!(
                    "rustflow: unknown flow id \"{id}\" ({} flows loaded from {})",
                    snapshot.flows.len(),
                    snapshot.config.flows_origin()
                ),
            );
            return;
        };
        let args: Vec<String> = words.map(str::to_string).collect();
        let limits = Limits {
            max_steps: snapshot.config.max_steps,
            max_goto: snapshot.config.max_goto,
        };
        let _running = instance.stats.call_started();
        // Asked once per call, as the engine does for its per-step lines.
        let debug = log::session_enabled(session, Level::Debug);
        if debug {
            log::session(
                session,
                Level::Debug,
                &format!("rustflow: running flow {id} version {}", flow.version()),
            );
        }
        let mut host = SessionHost::new(session, &snapshot);
        // Caught here (not only at the C edge) so the CDR still gets rustflow_error and
        // rustflow_steps before the call is hung up.
        let run = guard::catch(|| {
            rustflow_engine::run(&flow, &snapshot.flows, &mut host, &args, &limits)
        });
        let outcome = match run {
            Ok(outcome) => outcome,
            Err(panic) => {
                instance.stats.add_steps(host.steps);
                instance.stats.add_error();
                let channel = session.channel();
                let _ = channel.set_var("rustflow_error", &format!("panic: {panic}"));
                let _ = channel.set_var("rustflow_steps", &host.steps.to_string());
                log::session(
                    session,
                    Level::Critical,
                    &format!("rustflow: panic in flow {id}, hanging up: {panic}"),
                );
                let _ = channel.hangup(NORMAL_TEMPORARY_FAILURE);
                return;
            }
        };
        instance.stats.add_steps(outcome.steps);
        if outcome.error.is_some() {
            instance.stats.add_error();
        }
        if debug {
            log::session(
                session,
                Level::Debug,
                &format!(
                    "rustflow: flow {id} ended after {} steps{}{}",
                    outcome.steps,
                    if outcome.hung_up {
                        ", call hung up"
                    } else {
                        ""
                    },
                    outcome
                        .error
                        .as_deref()
                        .map(|e| format!(", error: {e}"))
                        .unwrap_or_default()
                ),
            );
        }
    }
}
