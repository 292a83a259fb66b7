//! The `string` and `math` applications (docs/apps.md).

mod expr_support;

use expr_support::TestEnv;
use rustflow_engine::expr::{MathCall, StringCall};

fn string(f: &str, data: &str, args: &[&str]) -> Result<String, String> {
    let call = StringCall::compile(f)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    call.call(data, &args, &mut TestEnv::new())
}

fn math(f: &str, args: &[&str]) -> Result<String, String> {
    let call = MathCall::compile(f)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    call.call(&args, &mut TestEnv::new())
}

#[test]
fn native_string_functions() {
    assert_eq!(string("reverse", "Привіт!", &[]).as_deref(), Ok("!тівирП"));
    assert_eq!(string("charAt", "abc", &["1"]).as_deref(), Ok("b"));
    assert_eq!(string("charAt", "abc", &["5"]).as_deref(), Ok(""));
    assert_eq!(string("length", "Привіт", &[]).as_deref(), Ok("6"));
    assert_eq!(string("length", "😀", &[]).as_deref(), Ok("2"));
    assert_eq!(
        string("base64", "hello, світ", &["encoder"]).as_deref(),
        Ok("aGVsbG8sINGB0LLRltGC")
    );
    assert_eq!(
        string("base64", "aGVsbG8sINGB0LLRltGC", &["decoder"]).as_deref(),
        Ok("hello, світ")
    );
    assert_eq!(string("base64", "a", &["encoder"]).as_deref(), Ok("YQ=="));
    assert_eq!(string("base64", "ab", &["encoder"]).as_deref(), Ok("YWI="));
    assert_eq!(
        string("base64", "not base64!", &["decoder"]),
        Err("base64: data is not valid base64".to_string())
    );
    assert_eq!(
        string("base64", "x", &["encode"]),
        Err(r#"base64: args[0] must be "encoder" or "decoder", not "encode""#.to_string())
    );
    assert_eq!(
        string("gomatch", "call 380441234567 now", &[r"(\d{3})(\d+)"]).as_deref(),
        Ok("380441234567,380,441234567")
    );
    assert_eq!(string("gomatch", "none", &[r"\d+"]).as_deref(), Ok(""));
    assert!(
        string("gomatch", "x", &["("])
            .unwrap_err()
            .starts_with("gomatch: bad regular expression")
    );
}

#[test]
fn digests_match_the_published_vectors() {
    let cases = [
        ("MD5", "", "d41d8cd98f00b204e9800998ecf8427e"),
        ("MD5", "abc", "900150983cd24fb0d6963f7d28e17f72"),
        (
            "MD5",
            "The quick brown fox jumps over the lazy dog",
            "9e107d9d372bb6826bd81d3542a419d6",
        ),
        (
            "SHA-256",
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "SHA-256",
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "SHA-256",
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            "SHA-512",
            "abc",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            "SHA-512",
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
        ),
    ];
    for (f, data, expected) in cases {
        assert_eq!(
            string(f, data, &[]).as_deref(),
            Ok(expected),
            "{f}({data:?})"
        );
    }
}

#[test]
fn javascript_string_methods() {
    // the corpus: {"fn": "slice", "args": ["-10"], "data": "${destination}"}
    assert_eq!(
        string("slice", "+380441234567", &["-10"]).as_deref(),
        Ok("0441234567")
    );
    assert_eq!(string("split", "a|b|c", &["|"]).as_deref(), Ok("a,b,c"));
    assert_eq!(
        string("replace", "a-b-c", &["/-/g", "+"]).as_deref(),
        Ok("a+b+c")
    );
    assert_eq!(
        string("replace", "a-b-c", &["-", "+"]).as_deref(),
        Ok("a+b-c")
    );
    assert_eq!(
        string("toUpperCase", "straße", &[]).as_deref(),
        Ok("STRASSE")
    );
    assert_eq!(string("padStart", "7", &["3", "0"]).as_deref(), Ok("007"));
    assert_eq!(string("indexOf", "abc", &["c"]).as_deref(), Ok("2"));
    assert_eq!(string("match", "abc", &["/x/"]).as_deref(), Ok("null"));
    // data is a value, never code
    assert_eq!(
        string("trim", " \"); throw 1; (\" ", &[]).as_deref(),
        Ok("\"); throw 1; (\"")
    );
    assert_eq!(
        StringCall::compile("eval").unwrap_err(),
        r#"unknown string function "eval" (reverse, charAt, base64, MD5, SHA-256, SHA-512, length, gomatch or a JavaScript String method)"#
    );
    assert_eq!(StringCall::compile("").unwrap_err(), "`fn` is required");
}

#[test]
fn math_functions() {
    let clips = ["a.wav", "b.wav", "c.wav"];
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let pick = math("random", &clips).unwrap();
        assert!(clips.contains(&pick.as_str()), "{pick}");
        seen.insert(pick);
    }
    assert_eq!(seen.len(), 3, "every element can be picked");
    assert_eq!(math("", &["only"]).as_deref(), Ok("only"));
    assert_eq!(math("random", &[]).as_deref(), Ok(""));
    assert_eq!(math("max", &["3", "10", "2"]).as_deref(), Ok("10"));
    assert_eq!(math("floor", &["2.7"]).as_deref(), Ok("2"));
    assert_eq!(
        math("pow", &["2", "0.5"]).as_deref(),
        Ok("1.4142135623730951")
    );
    assert_eq!(math("PI", &[]).as_deref(), Ok("3.141592653589793"));
    assert_eq!(math("sqrt", &["-1"]).as_deref(), Ok(""));
    assert_eq!(math("abs", &["x"]).as_deref(), Ok(""));
    assert_eq!(
        MathCall::compile("exit").unwrap_err(),
        r#"unknown Math function "exit""#
    );
}
