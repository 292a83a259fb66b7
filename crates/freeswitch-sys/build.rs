//! Chooses the bindings and checks the ABI-subset header against them.
//!
//! Header discovery, first match wins:
//! 1. `FREESWITCH_INCLUDE_DIR` (must contain `switch.h` and `switch_am_config.h`);
//! 2. `pkg-config --cflags freeswitch`;
//! 3. none: the committed bindings of the project's own header (`src/rustflow_abi.rs`, made
//!    from `include/rustflow_abi.h`). This needs no libclang: bindgen does not run.
//!
//! With real headers, bindgen (which loads libclang at run time) binds them; without libclang
//! the build stops with one line naming the package to install. The subset header is bound
//! beside them and checked: every mirrored struct, enum and constant (a generated `const`
//! layout check) and every function prototype (compared here). Without real headers the
//! committed bindings are checked against the measured figures in `include/abi-facts.jsonl`.
//! Either way a mismatch fails the build.
//!
//! libfreeswitch is never linked: FreeSWITCH resolves the module's symbols when it loads it.

#[path = "build/abi_check.rs"]
#[allow(dead_code)] // the JSON reader is for tests/abi_check.rs
mod abi_check;
#[path = "build/bindings.rs"]
#[allow(dead_code)] // `subset` (with functions) is for tests/bindings.rs
mod bindings;
#[path = "build/prototypes.rs"]
mod prototypes;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bindings::{COMMITTED_BINDINGS, COMMITTED_MIRRORED, PROJECT_DIR, SUBSET_HEADER};

const FACTS: &str = "include/abi-facts.jsonl";

enum Headers {
    /// Real FreeSWITCH headers: clang arguments and the directory holding `switch.h`.
    Real {
        how: String,
        clang_args: Vec<String>,
        dir: PathBuf,
    },
    Subset,
}

/// Stops the build with one line (no backtrace): cargo prints it as an error.
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(0);
}

fn env_tracked(name: &str) -> Option<String> {
    println!("cargo::rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn has_fs_headers(dir: &Path) -> bool {
    dir.join("switch.h").is_file() && dir.join("switch_am_config.h").is_file()
}

fn discover() -> Headers {
    if let Some(dir) = env_tracked("FREESWITCH_INCLUDE_DIR") {
        let dir = PathBuf::from(dir);
        if !has_fs_headers(&dir) {
            fail(&format!(
                "FREESWITCH_INCLUDE_DIR={} does not contain switch.h and switch_am_config.h (a \
                 configured FreeSWITCH include directory); unset it to use pkg-config or the \
                 bundled {SUBSET_HEADER}",
                dir.display()
            ));
        }
        return Headers::Real {
            how: format!("FREESWITCH_INCLUDE_DIR={}", dir.display()),
            clang_args: vec![format!("-I{}", dir.display())],
            dir,
        };
    }
    for var in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        env_tracked(var);
    }
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    if let Ok(output) = Command::new(&pkg_config)
        .args(["--cflags", "freeswitch"])
        .output()
        && output.status.success()
    {
        let cflags = String::from_utf8_lossy(&output.stdout).to_string();
        let clang_args: Vec<String> = cflags.split_whitespace().map(str::to_string).collect();
        let dir = clang_args
            .iter()
            .filter_map(|a| a.strip_prefix("-I"))
            .map(PathBuf::from)
            .find(|d| has_fs_headers(d));
        match dir {
            Some(dir) => {
                return Headers::Real {
                    how: format!("pkg-config freeswitch ({})", dir.display()),
                    clang_args,
                    dir,
                };
            }
            None => println!(
                "cargo::warning=pkg-config freeswitch answered `{}` but no directory there holds \
                 switch.h and switch_am_config.h; ignoring it",
                cflags.trim()
            ),
        }
    }
    Headers::Subset
}

/// bindgen loads libclang when it first runs; look for it first so a missing one is one line.
fn require_libclang(why: &str) {
    println!("cargo::rerun-if-env-changed=LIBCLANG_PATH");
    if clang_sys::load().is_err() {
        fail(&format!(
            "{why} needs libclang, which was not found: install libclang-dev (Debian/Ubuntu: \
             apt-get install libclang-dev), or set LIBCLANG_PATH"
        ));
    }
}

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for input in [
        "build.rs",
        "build/abi_check.rs",
        "build/bindings.rs",
        "build/prototypes.rs",
        COMMITTED_BINDINGS,
        COMMITTED_MIRRORED,
    ] {
        println!("cargo::rerun-if-changed={input}");
    }
    for input in [SUBSET_HEADER, FACTS] {
        println!("cargo::rerun-if-changed={PROJECT_DIR}/{input}");
    }
    println!("cargo::rustc-check-cfg=cfg(freeswitch_real_headers)");
    if env_tracked("RUSTFLOW_REGEN_BINDINGS").as_deref() == Some("1") {
        regenerate(&crate_dir);
    }

    let (mirrored, check, headers) = match discover() {
        Headers::Real {
            how,
            clang_args,
            dir,
        } => {
            require_libclang(&format!("binding the FreeSWITCH headers found by {how}"));
            println!("cargo::warning=freeswitch-sys: binding the FreeSWITCH headers from {how}");
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "h") {
                    println!("cargo::rerun-if-changed={}", entry.path().display());
                }
            }
            let wrapper = out.join("freeswitch_real.h");
            fs::write(&wrapper, "#include <switch.h>\n").unwrap();
            let real = bindings::builder(&wrapper, &clang_args, true)
                .generate()
                .unwrap_or_else(|e| {
                    fail(&format!(
                        "bindgen failed on the FreeSWITCH headers ({how}): {}",
                        one_line(&e.to_string())
                    ))
                })
                .to_string();
            // Every prototype of the subset header must be the real one.
            let (subset, _) = bindings::subset(&crate_dir).unwrap_or_else(|e| fail(&one_line(&e)));
            if let Err(mismatches) = prototypes::compare(&subset, &real) {
                fail(&format!(
                    "{SUBSET_HEADER} does not match the FreeSWITCH headers ({how}): {}",
                    mismatches.join("; ")
                ));
            }
            let (mirror, mirrored) =
                bindings::subset_types(&crate_dir).unwrap_or_else(|e| fail(&one_line(&e)));
            fs::write(out.join("bindings.rs"), &real).unwrap();
            fs::write(out.join("abi_mirror.rs"), &mirror).unwrap();
            let mut check = String::from(
                "#[allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, \
                 unsafe_op_in_unsafe_fn, clippy::all)]\nmod abi_mirror {\n    \
                 include!(concat!(env!(\"OUT_DIR\"), \"/abi_mirror.rs\"));\n}\n",
            );
            check.push_str(&abi_check::against_bindings(&mirrored, "abi_mirror"));
            println!("cargo::rustc-cfg=freeswitch_real_headers");
            (mirrored, check, how)
        }
        Headers::Subset => {
            let committed = fs::read_to_string(crate_dir.join(COMMITTED_BINDINGS))
                .unwrap_or_else(|e| fail(&format!("reading {COMMITTED_BINDINGS}: {e}")));
            let mirrored = fs::read_to_string(crate_dir.join(COMMITTED_MIRRORED))
                .map_err(|e| e.to_string())
                .and_then(|text| abi_check::mirrored_from_json(&text))
                .unwrap_or_else(|e| fail(&format!("reading {COMMITTED_MIRRORED}: {e}")));
            let text = fs::read_to_string(crate_dir.join(PROJECT_DIR).join(FACTS))
                .unwrap_or_else(|e| fail(&format!("reading {FACTS}: {e}")));
            let facts = abi_check::parse_facts(&text).unwrap_or_else(|e| fail(&e));
            let check = abi_check::against_facts(&mirrored, &facts).unwrap_or_else(|missing| {
                fail(&format!(
                    "{SUBSET_HEADER} mirrors items {FACTS} has no figures for: {}. Measure them \
                     against real FreeSWITCH headers and add them.",
                    missing.join(", ")
                ))
            });
            fs::write(out.join("bindings.rs"), committed).unwrap();
            (
                mirrored,
                check,
                format!("bundled {SUBSET_HEADER} (no FreeSWITCH headers found)"),
            )
        }
    };
    fs::write(out.join("abi_check.rs"), check).unwrap();
    println!("cargo::rustc-env=FREESWITCH_SYS_HEADERS={headers}");
    // For tests/abi_check.rs, which proves the check fails on a mismatch.
    fs::write(
        out.join("mirrored.json"),
        abi_check::mirrored_to_json(&mirrored),
    )
    .unwrap();
}

/// Rewrites the committed bindings from the subset header (asked for by
/// `RUSTFLOW_REGEN_BINDINGS=1`; tests/bindings.rs checks they are current).
fn regenerate(crate_dir: &Path) {
    require_libclang("regenerating the committed bindings");
    let files = bindings::committed_files(crate_dir).unwrap_or_else(|e| fail(&one_line(&e)));
    for (path, text) in files {
        fs::write(crate_dir.join(path), text)
            .unwrap_or_else(|e| fail(&format!("writing {path}: {e}")));
        println!("cargo::warning=freeswitch-sys: regenerated {path}");
    }
}

/// bindgen's and clang's messages span lines; the build's answer is one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
