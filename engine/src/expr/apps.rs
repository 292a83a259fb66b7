//! The `string` and `math` applications (docs/apps.md), as pure functions returning the
//! text the interpreter stores into `setVar`.

use std::sync::OnceLock;

use serde_json::Value as Json;

use super::ExprEnv;
use super::digest::{base64_decode, base64_encode, hex, md5, sha256, sha512};
use super::value::Units;
use crate::js::Script;

/// String methods the `string` app may name besides its native functions.
const STRING_METHODS: [&str; 34] = [
    "at",
    "charCodeAt",
    "codePointAt",
    "concat",
    "endsWith",
    "includes",
    "indexOf",
    "isWellFormed",
    "lastIndexOf",
    "localeCompare",
    "match",
    "normalize",
    "padEnd",
    "padStart",
    "repeat",
    "replace",
    "replaceAll",
    "search",
    "slice",
    "split",
    "startsWith",
    "substr",
    "substring",
    "toLocaleLowerCase",
    "toLocaleUpperCase",
    "toLowerCase",
    "toString",
    "toUpperCase",
    "toWellFormed",
    "trim",
    "trimEnd",
    "trimLeft",
    "trimRight",
    "trimStart",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum StringFn {
    Reverse,
    CharAt,
    Base64,
    Md5,
    Sha256,
    Sha512,
    Length,
    GoMatch,
    Method(String),
}

/// A compiled `{"string": {"fn", "data", "args", "setVar"}}` step.
///
/// Native: `reverse` (by character), `charAt` (`args[0]`, UTF-16 index as in JavaScript),
/// `base64` (`args[0]` = `"encoder"` | `"decoder"`), `MD5`, `SHA-256`, `SHA-512` (lowercase
/// hex of the UTF-8 bytes), `length` (UTF-16 length, as JavaScript's `.length`), `gomatch`
/// (`args[0]` a regular expression: the match and its groups joined by ",", "" when it
/// does not match). Any JavaScript String method (`slice`, `replace`, `split`, …) is
/// called on `data` with `args` (an argument written `/re/flags` becomes a RegExp) and the
/// result converted with `String()`. Other names are a load error.
#[derive(Debug)]
pub struct StringCall {
    function: StringFn,
}

impl StringCall {
    pub fn compile(name: &str) -> Result<StringCall, String> {
        let function = match name {
            "" => return Err("`fn` is required".to_string()),
            "reverse" => StringFn::Reverse,
            "charAt" => StringFn::CharAt,
            "base64" => StringFn::Base64,
            "MD5" => StringFn::Md5,
            "SHA-256" => StringFn::Sha256,
            "SHA-512" => StringFn::Sha512,
            "length" => StringFn::Length,
            "gomatch" => StringFn::GoMatch,
            m if STRING_METHODS.contains(&m) => StringFn::Method(m.to_string()),
            other => {
                return Err(format!(
                    "unknown string function {other:?} (reverse, charAt, base64, MD5, SHA-256, SHA-512, length, gomatch or a JavaScript String method)"
                ));
            }
        };
        Ok(StringCall { function })
    }

    /// Applies the function to `data`; the result is the text for `setVar`.
    pub fn call(
        &self,
        data: &str,
        args: &[String],
        env: &mut dyn ExprEnv,
    ) -> Result<String, String> {
        let first = || args.first().map_or("", String::as_str);
        match &self.function {
            StringFn::Reverse => Ok(data.chars().rev().collect()),
            StringFn::CharAt => {
                let pos = super::value::str_to_number(first());
                let u = Units::of(data);
                if pos.is_nan() || pos < 0.0 || pos >= u.len() as f64 {
                    return Ok(String::new());
                }
                let i = pos as usize;
                Ok(u.slice(i, i + 1).unwrap_or_else(|| "\u{FFFD}".to_string()))
            }
            StringFn::Base64 => match first() {
                "encoder" => Ok(base64_encode(data.as_bytes())),
                "decoder" => base64_decode(data.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| "base64: data is not valid base64".to_string()),
                other => Err(format!(
                    "base64: args[0] must be \"encoder\" or \"decoder\", not {other:?}"
                )),
            },
            StringFn::Md5 => Ok(hex(&md5(data.as_bytes()))),
            StringFn::Sha256 => Ok(hex(&sha256(data.as_bytes()))),
            StringFn::Sha512 => Ok(hex(&sha512(data.as_bytes()))),
            StringFn::Length => Ok(Units::of(data).len().to_string()),
            StringFn::GoMatch => {
                let pattern = first();
                let re = regex::Regex::new(pattern)
                    .map_err(|e| format!("gomatch: bad regular expression {pattern:?}: {e}"))?;
                Ok(re.captures(data).map_or_else(String::new, |caps| {
                    caps.iter()
                        .map(|m| m.map_or("", |m| m.as_str()))
                        .collect::<Vec<_>>()
                        .join(",")
                }))
            }
            StringFn::Method(name) => {
                static SCRIPT: OnceLock<Result<Script, String>> = OnceLock::new();
                let script = SCRIPT
                    .get_or_init(|| Script::new(STRING_METHOD.to_string(), 0))
                    .as_ref()
                    .map_err(Clone::clone)?;
                let args_json =
                    Json::Array(args.iter().cloned().map(Json::String).collect()).to_string();
                env.js()
                    .call_strings(script, vec![name.clone(), data.to_string(), args_json])
            }
        }
    }
}

const STRING_METHOD: &str = r#"(function (fnName, data, argsJson) {
  var args = JSON.parse(argsJson).map(function (v) {
    if (typeof v === "string") {
      var m = v.match(/^\/(.*?)\/([dgimsuy]*)$/);
      if (m) return new RegExp(m[1], m[2]);
    }
    return v;
  });
  return String(String.prototype[fnName].apply(data, args));
})"#;

/// Names of `Math` the `math` app may use.
const MATH_NAMES: [&str; 43] = [
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "clz32",
    "cos", "cosh", "exp", "expm1", "floor", "fround", "hypot", "imul", "log", "log10", "log1p",
    "log2", "max", "min", "pow", "random", "round", "sign", "sin", "sinh", "sqrt", "tan", "tanh",
    "trunc", "E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2",
];

/// A compiled `{"math": {"fn", "data", "setVar"}}` step.
///
/// `random` (also an empty `fn`): one element of `data`, chosen uniformly ("" when empty).
/// Any other `Math` name: `Math[fn]` applied to `data` (or the constant `Math[fn]`); NaN
/// gives "", other results their JavaScript text. Unknown names are a load error.
#[derive(Debug)]
pub struct MathCall {
    /// `None` = pick a random element.
    function: Option<String>,
}

impl MathCall {
    pub fn compile(name: &str) -> Result<MathCall, String> {
        match name {
            "" | "random" => Ok(MathCall { function: None }),
            n if MATH_NAMES.contains(&n) => Ok(MathCall {
                function: Some(n.to_string()),
            }),
            other => Err(format!("unknown Math function {other:?}")),
        }
    }

    pub fn call(&self, args: &[String], env: &mut dyn ExprEnv) -> Result<String, String> {
        let Some(name) = &self.function else {
            if args.is_empty() {
                return Ok(String::new());
            }
            let i = ((super::eval::random_unit() * args.len() as f64) as usize).min(args.len() - 1);
            return Ok(args[i].clone());
        };
        static SCRIPT: OnceLock<Result<Script, String>> = OnceLock::new();
        let script = SCRIPT
            .get_or_init(|| Script::new(MATH_FUNCTION.to_string(), 0))
            .as_ref()
            .map_err(Clone::clone)?;
        let args_json = Json::Array(args.iter().cloned().map(Json::String).collect()).to_string();
        env.js().call_strings(script, vec![name.clone(), args_json])
    }
}

const MATH_FUNCTION: &str = r#"(function (fnName, argsJson) {
  var args = JSON.parse(argsJson), value;
  value = typeof Math[fnName] === "function" ? Math[fnName].apply(null, args) : Math[fnName];
  if (typeof value === "number" && isNaN(value)) return "";
  return String(value);
})"#;
