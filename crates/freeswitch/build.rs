//! FreeSWITCH must never see a Rust panic; the guards at the `extern "C"` edges catch them,
//! which needs unwinding (`panic = "abort"` would take the whole PBX down instead).
fn main() {
    let panic = std::env::var("CARGO_CFG_PANIC").unwrap_or_default();
    if panic != "unwind" {
        println!(
            "cargo::error=the freeswitch crate must be built with panic = \"unwind\" (found \
             {panic:?}): every extern \"C\" edge catches panics, which abort cannot do"
        );
    }
}
