//! Every `switch_*` function the fake core exports has the calling shape of the prototype the
//! shared bindings declare: the same number of parameters, each passed the same way (a
//! pointer, or an integer of the same width), the same return, variadic or not.
//!
//! The fake core spells handles as `*mut c_void` and enums as `c_int`, so the types are
//! compared by how C passes them, not by name. Which functions exist both ways is the
//! harness's check (tests/harness/tests/load.rs); this one catches a prototype that changed
//! in the header while the fake kept the old one.

use std::collections::BTreeMap;
use std::path::Path;

use syn::{FnArg, ForeignItem, Item, ReturnType, Type};

/// How C passes a value: `ptr`, `int32`, `int64`, `f32`, `f64`, or `void`.
fn shape(
    ty: &Type,
    newtypes: &BTreeMap<String, String>,
    aliases: &BTreeMap<String, Type>,
) -> String {
    match ty {
        Type::Ptr(_) | Type::BareFn(_) | Type::Reference(_) => "ptr".to_string(),
        Type::Tuple(t) if t.elems.is_empty() => "void".to_string(),
        Type::Path(path) => {
            let last = path
                .path
                .segments
                .last()
                .expect("a type path has a segment");
            let name = last.ident.to_string();
            match name.as_str() {
                // Option<fn(..)>: a nullable function pointer.
                "Option" => "ptr".to_string(),
                "c_int" | "c_uint" | "i32" | "u32" => "int32".to_string(),
                "c_long" | "c_ulong" | "i64" | "u64" | "usize" | "isize" | "c_longlong"
                | "c_ulonglong" => "int64".to_string(),
                "c_char" | "c_uchar" | "i8" | "u8" => "int8".to_string(),
                "c_short" | "c_ushort" | "i16" | "u16" => "int16".to_string(),
                "f32" | "c_float" => "f32".to_string(),
                "f64" | "c_double" => "f64".to_string(),
                other => {
                    if let Some(inner) = newtypes.get(other) {
                        let inner: Type = syn::parse_str(inner).expect("newtype field parses");
                        shape(&inner, newtypes, aliases)
                    } else if let Some(target) = aliases.get(other) {
                        shape(target, newtypes, aliases)
                    } else {
                        format!("struct {other} by value")
                    }
                }
            }
        }
        other => format!("unknown {}", quote::ToTokens::to_token_stream(other)),
    }
}

#[derive(Debug, PartialEq)]
struct Shape {
    params: Vec<String>,
    output: String,
    variadic: bool,
}

fn signature_shape(
    sig: &syn::Signature,
    newtypes: &BTreeMap<String, String>,
    aliases: &BTreeMap<String, Type>,
) -> Shape {
    Shape {
        params: sig
            .inputs
            .iter()
            .map(|arg| match arg {
                FnArg::Typed(arg) => shape(&arg.ty, newtypes, aliases),
                FnArg::Receiver(_) => "self".to_string(),
            })
            .collect(),
        output: match &sig.output {
            ReturnType::Default => "void".to_string(),
            ReturnType::Type(_, ty) => shape(ty, newtypes, aliases),
        },
        variadic: sig.variadic.is_some(),
    }
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn exported(f: &syn::ItemFn) -> bool {
    f.attrs.iter().any(|a| {
        a.path().is_ident("unsafe")
            && quote::ToTokens::to_token_stream(&a.meta)
                .to_string()
                .contains("no_mangle")
    })
}

#[test]
fn every_exported_function_has_the_shape_of_its_prototype_in_the_bindings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = parse(&root.join("../../crates/freeswitch-sys/src/rustflow_abi.rs"));
    let mut newtypes = BTreeMap::new();
    let mut aliases = BTreeMap::new();
    let mut declared = BTreeMap::new();
    for item in &bindings.items {
        match item {
            Item::Struct(s) => {
                if let syn::Fields::Unnamed(fields) = &s.fields
                    && fields.unnamed.len() == 1
                {
                    let inner = quote::ToTokens::to_token_stream(&fields.unnamed[0].ty).to_string();
                    newtypes.insert(s.ident.to_string(), inner);
                }
            }
            Item::Type(t) => {
                aliases.insert(t.ident.to_string(), (*t.ty).clone());
            }
            Item::ForeignMod(block) => {
                for item in &block.items {
                    if let ForeignItem::Fn(f) = item {
                        declared.insert(f.sig.ident.to_string(), f.sig.clone());
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        declared.len() >= 15,
        "too few prototypes parsed: {:?}",
        declared.keys()
    );

    let mut fake = BTreeMap::new();
    let mut foreign = BTreeMap::new();
    let mut sources: Vec<_> = std::fs::read_dir(root.join("src"))
        .expect("src/ of the fake core")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    sources.sort();
    for file in sources {
        for item in parse(&file).items {
            match item {
                Item::Fn(f) if exported(&f) && f.sig.ident.to_string().starts_with("switch_") => {
                    fake.insert(f.sig.ident.to_string(), f.sig.clone());
                }
                Item::ForeignMod(block) => {
                    for item in block.items {
                        if let ForeignItem::Fn(f) = item {
                            foreign.insert(f.sig.ident.to_string(), f.sig);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // switch_log_printf is a jump into the C-variadic half (variadic.c), declared in Rust as
    // fakecore_c_log_printf.
    if fake.contains_key("switch_log_printf") {
        let c_half = foreign
            .get("fakecore_c_log_printf")
            .expect("fakecore_c_log_printf is declared")
            .clone();
        fake.insert("switch_log_printf".to_string(), c_half);
    }
    assert!(
        fake.len() >= 15,
        "too few fake functions parsed: {:?}",
        fake.keys()
    );

    let mut problems = Vec::new();
    for (name, ours) in &fake {
        let Some(header) = declared.get(name) else {
            continue; // the harness names functions the header lacks
        };
        let (fake_shape, header_shape) = (
            signature_shape(ours, &newtypes, &aliases),
            signature_shape(header, &newtypes, &aliases),
        );
        if fake_shape != header_shape {
            problems.push(format!(
                "{name}: the fake core takes {fake_shape:?}, the header declares {header_shape:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
