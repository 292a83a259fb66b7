//! The contact centre: queues, agents and queue members. Not run yet; the registry knows
//! the names, so a flow using them gets "not supported by rustflow yet" (or is skipped
//! under `unknown-apps=skip`), and their nested blocks stay checked by the schema.
//!
//! When this family lands, it follows the other family files (`call.rs` is the closest):
//! a `Step` enum with `uses_media`, a `Compiler` method per application, a
//! `Machine::run_contact_centre` that calls one [`Host`](crate::Host) method per step, and
//! each `App::not_yet` below turned into an `App::step` with its summary and argument
//! schema; plus `Code::ContactCentre(Step)` in `program.rs` and its arm in the
//! interpreter's `dispatch`.

use super::{App, Family};

/// The contact-centre applications.
pub(crate) const APPS: &[App] = &[
    App::not_yet(Family::ContactCentre, "joinQueue").nested(&[
        "waiting",
        "offering",
        "bridged",
        "reporting",
        "timers[].actions",
    ]),
    App::not_yet(Family::ContactCentre, "joinAgent").nested(&["bridged"]),
    App::not_yet(Family::ContactCentre, "cancelQueue"),
    App::not_yet(Family::ContactCentre, "callbackQueue"),
    App::not_yet(Family::ContactCentre, "ccOutbound"),
    App::not_yet(Family::ContactCentre, "ccPosition"),
    App::not_yet(Family::ContactCentre, "ewt"),
    App::not_yet(Family::ContactCentre, "getQueueAgents"),
    App::not_yet(Family::ContactCentre, "getQueueInfo"),
    App::not_yet(Family::ContactCentre, "getQueueMetrics"),
    App::not_yet(Family::ContactCentre, "memberInfo"),
    App::not_yet(Family::ContactCentre, "patchMembers"),
];
