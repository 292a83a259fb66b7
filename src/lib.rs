//! mod_rustflow: a FreeSWITCH module that runs Webitel-compatible JSON call flows in-process.
//!
//! Layers: `freeswitch-sys` (raw bindings + ABI layout check) → `freeswitch` (safe wrappers,
//! the only `unsafe`) → the glue here (configuration, flow-set snapshots, the `rustflow`
//! application and API; no `unsafe`, no raw bindings) → `rustflow_engine` (pure, no FFI).
#![forbid(unsafe_code)]

mod api;
mod app;
mod cc;
mod command;
mod config;
mod dial;
mod flows_listener;
mod host;
mod http;
mod loader;
mod state;
mod test_hooks;

/// The safe FreeSWITCH layer, under the name the glue has always used for it.
use freeswitch as switch;

use switch::log::{self, Level};
use switch::module::{Module, Registrar, Unload, set_completion};

/// The FreeSWITCH module API version this build speaks (from the bindings).
pub(crate) const API_VERSION: i64 = switch::API_VERSION;

/// The module: load reads the configuration and flows, then registers the app and the API.
pub struct Rustflow;

switch::module!(mod_rustflow_module_interface, Rustflow);

impl Module for Rustflow {
    const NAME: &'static std::ffi::CStr = c"mod_rustflow";

    fn load(registrar: &mut Registrar) -> Result<(), String> {
        test_hooks::panic_at("load");
        let (snapshot, ok) = loader::initial_snapshot();
        loader::update_completion(&snapshot.flows);
        let instance = state::Instance::new(snapshot);
        instance.stats.reload_done(ok);
        cc::open(&instance.current().config);
        let source = instance.current().config.flows_source.clone();
        state::install(instance);
        if let Some(instance) = state::instance() {
            flows_listener::follow(&instance, &source);
        }
        for subclass in [host::STEP_EVENT, cc::events::SUBCLASS] {
            if let Err(status) = switch::event::reserve_subclass(subclass) {
                // Already reserved (by an earlier load that did not free it): events still fire.
                log::global(
                    Level::Debug,
                    &format!(
                        "rustflow: event subclass {} not reserved ({status})",
                        subclass.to_string_lossy()
                    ),
                );
            }
        }
        registrar.application::<app::RustflowApp>(
            c"rustflow",
            c"Run a JSON call flow",
            c"Runs the flow FLOW_ID (from flows-dir, or the flows table of flows-source) on this call; words after the id are the flow's arguments $1..$9.",
            c"FLOW_ID [ARG ...]",
        )?;
        registrar.application::<cc::outbound::AttemptApp>(
            cc::outbound::ATTEMPT_APP,
            c"An outbound queue attempt's answered leg (started by the dialer)",
            c"Runs on a leg the contact centre's dialer answered: the member held in line for an agent, or the agent who accepted a preview calling the member. Not for dialplans.",
            c"ATTEMPT member ANSWERED_MS | ATTEMPT agent MEMBER_UUID",
        )?;
        registrar.api::<command::RustflowApi>(
            c"rustflow",
            c"mod_rustflow flows: reload, list, show, validate, stats, version; cc: the contact centre",
            c"reload|list|show ID|validate PATH|ID|stats|version [json] | cc WORDS",
        )?;
        Ok(())
    }

    fn shutdown() -> Unload {
        test_hooks::panic_at("shutdown");
        set_completion("del rustflow");
        switch::event::free_subclass(host::STEP_EVENT);
        switch::event::free_subclass(cc::events::SUBCLASS);
        cc::close();
        if let Some(instance) = state::remove() {
            flows_listener::stop(&instance);
            let running = instance.stats.view(0).calls_running;
            if running > 0 {
                log::global(
                    Level::Warning,
                    &format!("rustflow: unloading with {running} calls still running"),
                );
            }
        }
        http::shutdown()
    }
}
