//! The module's build check. FreeSWITCH must never see a Rust panic: the guards the
//! `freeswitch` crate puts at every `extern "C"` edge catch them, which needs unwinding
//! (`panic = "abort"` would take the whole PBX down instead). Bindings and the ABI checks are
//! `freeswitch-sys`'s build.
fn main() {
    let panic = std::env::var("CARGO_CFG_PANIC").unwrap_or_default();
    if panic != "unwind" {
        println!(
            "cargo::error=mod_rustflow must be built with panic = \"unwind\" (found {panic:?}): \
             every extern \"C\" edge catches panics, which abort cannot do"
        );
    }
}
