//! Argument templates: any template expands without panicking, and a value holding any
//! text (`${…}`, `$${…}`, quotes, NUL, …) comes out verbatim. The input is the template,
//! then optionally a 0xFF byte and the value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustflow_engine::sim::{Script, SimHost};
use rustflow_engine::template::{Scope, Template, lookup};

fuzz_target!(|data: &[u8]| {
    let (template, value) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (template, value) = (
        String::from_utf8_lossy(template),
        String::from_utf8_lossy(value),
    );
    let mut script = Script::default();
    script.vars.insert("v".into(), value.to_string());
    script
        .vars
        .insert("j".into(), serde_json::json!({ "a": &*value }).to_string());
    script.globals.insert("g".into(), value.to_string());
    let mut host = SimHost::new(script);
    let args = vec![value.to_string(), template.to_string()];
    let mut scope = Scope {
        host: &mut host,
        args: &args,
    };
    let _ = Template::parse(&template).expand(&mut scope);
    let _ = lookup(&mut scope, &template);
    let verbatim = Template::parse("<${v}|$${g}|$1|${j.a}>")
        .expand(&mut scope)
        .into_owned();
    assert_eq!(verbatim, format!("<{value}|{value}|{value}|{value}>"));
});
