//! Compares the function prototypes of two bindgen outputs: the subset header's and the real
//! headers'. Types are compared after resolving type aliases (`pub type`, `pub use .. as ..`)
//! and spelling C scalar types as Rust ones, so `typedef uint32_t switch_originate_flag_t` and
//! `uint32_t` agree; named structs and enums compare by name (their layout is the layout
//! check's business). Parameter names do not matter.

use std::collections::BTreeMap;

use quote::ToTokens;
use syn::{FnArg, ForeignItem, Item, ReturnType, Type, UseTree};

/// One function's signature in canonical spelling.
#[derive(Debug, PartialEq, Eq)]
struct Signature {
    params: Vec<String>,
    output: String,
    variadic: bool,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut params = self.params.clone();
        if self.variadic {
            params.push("...".to_string());
        }
        write!(f, "fn({}) -> {}", params.join(", "), self.output)
    }
}

struct Bindings {
    aliases: BTreeMap<String, Type>,
    functions: BTreeMap<String, syn::ForeignItemFn>,
}

fn read(text: &str) -> Result<Bindings, String> {
    let file = syn::parse_file(text).map_err(|e| format!("bindgen output does not parse: {e}"))?;
    let mut bindings = Bindings {
        aliases: BTreeMap::new(),
        functions: BTreeMap::new(),
    };
    for item in file.items {
        match item {
            Item::Type(alias) => {
                bindings.aliases.insert(alias.ident.to_string(), *alias.ty);
            }
            Item::Use(item) => {
                // bindgen spells `typedef enum x {..} y` as `pub use self::x as y;`.
                if let UseTree::Path(path) = &item.tree
                    && let UseTree::Rename(rename) = &*path.tree
                {
                    let target: Type = syn::parse_str(&rename.ident.to_string())
                        .map_err(|e| format!("alias {}: {e}", rename.rename))?;
                    bindings.aliases.insert(rename.rename.to_string(), target);
                }
            }
            Item::ForeignMod(block) => {
                for item in block.items {
                    if let ForeignItem::Fn(f) = item {
                        bindings.functions.insert(f.sig.ident.to_string(), f);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(bindings)
}

/// The C scalar names of `core::ffi` as the fixed-size Rust types of x86_64/aarch64 Linux.
fn scalar(name: &str) -> Option<&'static str> {
    Some(match name {
        "c_char" | "c_schar" => "i8",
        "c_uchar" => "u8",
        "c_short" => "i16",
        "c_ushort" => "u16",
        "c_int" => "i32",
        "c_uint" => "u32",
        "c_long" | "c_longlong" => "i64",
        "c_ulong" | "c_ulonglong" => "u64",
        "c_float" => "f32",
        "c_double" => "f64",
        "c_void" => "void",
        _ => return None,
    })
}

fn canonical(bindings: &Bindings, ty: &Type, depth: u32) -> String {
    if depth > 32 {
        return ty.to_token_stream().to_string();
    }
    match ty {
        Type::Ptr(ptr) => {
            let mutability = if ptr.mutability.is_some() {
                "*mut"
            } else {
                "*const"
            };
            format!("{mutability} {}", canonical(bindings, &ptr.elem, depth + 1))
        }
        Type::BareFn(f) => {
            let params: Vec<String> = f
                .inputs
                .iter()
                .map(|a| canonical(bindings, &a.ty, depth + 1))
                .collect();
            let variadic = if f.variadic.is_some() { ", ..." } else { "" };
            format!(
                "fn({}{variadic}) -> {}",
                params.join(", "),
                output(bindings, &f.output, depth + 1)
            )
        }
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return ty.to_token_stream().to_string();
            };
            let name = last.ident.to_string();
            if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                // Option<fn(..)>: a nullable function pointer.
                let inner: Vec<String> = args
                    .args
                    .iter()
                    .map(|a| match a {
                        syn::GenericArgument::Type(t) => canonical(bindings, t, depth + 1),
                        other => other.to_token_stream().to_string(),
                    })
                    .collect();
                return format!("{name}<{}>", inner.join(", "));
            }
            if let Some(scalar) = scalar(&name) {
                return scalar.to_string();
            }
            match bindings.aliases.get(&name) {
                Some(target) => canonical(bindings, target, depth + 1),
                None => name,
            }
        }
        Type::Array(array) => format!(
            "[{}; {}]",
            canonical(bindings, &array.elem, depth + 1),
            array.len.to_token_stream()
        ),
        Type::Tuple(t) if t.elems.is_empty() => "void".to_string(),
        other => other.to_token_stream().to_string(),
    }
}

fn output(bindings: &Bindings, output: &ReturnType, depth: u32) -> String {
    match output {
        ReturnType::Default => "void".to_string(),
        ReturnType::Type(_, ty) => canonical(bindings, ty, depth),
    }
}

fn signature(bindings: &Bindings, f: &syn::ForeignItemFn) -> Signature {
    Signature {
        params: f
            .sig
            .inputs
            .iter()
            .map(|arg| match arg {
                FnArg::Typed(arg) => canonical(bindings, &arg.ty, 0),
                FnArg::Receiver(r) => r.to_token_stream().to_string(),
            })
            .collect(),
        output: output(bindings, &f.sig.output, 0),
        variadic: f.sig.variadic.is_some(),
    }
}

/// `Err` names every function of `subset` that `real` lacks or declares differently.
pub fn compare(subset: &str, real: &str) -> Result<(), Vec<String>> {
    let subset = read(subset).map_err(|e| vec![e])?;
    let real = read(real).map_err(|e| vec![e])?;
    let mut mismatches = Vec::new();
    for (name, ours) in &subset.functions {
        let Some(theirs) = real.functions.get(name) else {
            mismatches.push(format!("`{name}` is not declared there"));
            continue;
        };
        let (ours, theirs) = (signature(&subset, ours), signature(&real, theirs));
        if ours != theirs {
            mismatches.push(format!(
                "`{name}` is declared `{ours}` here but `{theirs}` there"
            ));
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}
