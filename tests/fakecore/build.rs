//! Compiles the two C-variadic entry points (C-variadic Rust functions are not stable).
fn main() {
    println!("cargo:rerun-if-changed=src/variadic.c");
    cc::Build::new()
        .file("src/variadic.c")
        .warnings(true)
        .compile("fakecore_variadic");
}
