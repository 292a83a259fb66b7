//! `docs/apps.md` documents every application the engine runs (issue 4), and nothing else:
//! the list, the families and the channel variables each application sets come from the
//! engine's registry (`engine/src/apps/`), so the page cannot drift from the code.

mod common;

use std::collections::BTreeSet;

use rustflow_engine::{CompileOptions, SUPPORTED_APPS, compile_source};

fn apps_page() -> String {
    std::fs::read_to_string(common::repo_root().join("docs/apps.md")).expect("docs/apps.md exists")
}

/// Application names in backticks on the page's headings.
fn documented(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|l| l.starts_with("### "))
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_supported_application_has_a_section() {
    let page = apps_page();
    let documented = documented(&page);
    let missing: Vec<&str> = SUPPORTED_APPS
        .iter()
        .copied()
        .filter(|app| !documented.contains(*app))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/apps.md has no `### `app`` section for: {missing:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|name| !SUPPORTED_APPS.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/apps.md documents applications the engine does not run: {unknown:?}"
    );
}

/// The page's sections: (family heading, application names of the `###` heading, text).
fn sections(page: &str) -> Vec<(String, Vec<String>, String)> {
    let mut out: Vec<(String, Vec<String>, String)> = Vec::new();
    let mut family = String::new();
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            family = heading.to_string();
        } else if let Some(heading) = line.strip_prefix("### ") {
            let names = heading.split('`').skip(1).step_by(2).map(str::to_string);
            out.push((family.clone(), names.collect(), String::new()));
        } else if let Some((_, _, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

#[test]
fn every_section_sits_under_its_family_and_names_its_fields_and_what_it_sets() {
    let page = apps_page();
    let mut problems = Vec::new();
    for (family, names, text) in sections(&page) {
        for name in names {
            let Some(app) = rustflow_engine::apps::find(&name) else {
                problems.push(format!(
                    "`{name}` is documented but unknown to the registry"
                ));
                continue;
            };
            if family != app.family.title() {
                problems.push(format!(
                    "`{name}` is documented under {family}, but its family is {}",
                    app.family.title()
                ));
            }
            let schema = app.arguments_schema();
            if let Some(fields) = schema.get("properties").and_then(|p| p.as_object()) {
                for field in fields.keys() {
                    if !text.contains(&format!("`{field}`")) {
                        problems.push(format!("`{name}` does not mention its field `{field}`"));
                    }
                }
            }
            for output in app.outputs {
                if !text.contains(output) {
                    problems.push(format!(
                        "`{name}` does not mention `{output}`, which it sets"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/apps.md:\n{}",
        problems.join("\n")
    );
}

/// Every example is one application object of the section it sits in, and it compiles
/// (examples that jump to a tag or call a function get that tag / function added).
#[test]
fn every_example_compiles() {
    let page = apps_page();
    let mut section = String::new();
    let mut in_block = false;
    let mut block = String::new();
    let mut examples = 0;
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            section = heading.to_string();
        } else if line == "```json" {
            in_block = true;
            block.clear();
        } else if line == "```" && in_block {
            in_block = false;
            examples += 1;
            let value: serde_json::Value = serde_json::from_str(&block)
                .unwrap_or_else(|e| panic!("{section}: example is not JSON ({e}):\n{block}"));
            let app = value
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| panic!("{section}: example is not an application object"));
            assert!(
                section.contains(&format!("`{app}`")),
                "example of `{app}` sits in section {section}"
            );
            // targets the examples refer to
            let greet = if app == "function" {
                ""
            } else {
                r#", {"function": {"name": "greet", "actions": []}}"#
            };
            let flow = format!(
                r#"[{block}, {{"tag": "menu", "log": "menu"}}, {{"tag": "sales", "log": "sales"}}{greet}]"#
            );
            if let Err(diags) = compile_source("doc", "apps.md", &flow, &CompileOptions::default())
            {
                let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
                panic!("{section}: example does not compile:\n{}", lines.join("\n"));
            }
        } else if in_block {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(
        examples >= SUPPORTED_APPS.len() - 2,
        "only {examples} examples"
    );
}

/// The variables the lints take as provided by applications are the ones this page documents,
/// and every lint code has its line in "Common mistakes".
#[test]
fn application_outputs_and_lint_codes_are_documented() {
    let page = apps_page();
    let missing: Vec<&str> = rustflow_engine::apps_outputs::APP_OUTPUTS
        .iter()
        .chain(rustflow_engine::apps_outputs::ATTEMPT_FLOW_VARIABLES)
        .copied()
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "application outputs not documented in docs/apps.md: {missing:?}"
    );
    let mistakes = page
        .split_once("## Common mistakes")
        .map(|(_, rest)| rest)
        .expect("docs/apps.md has a `## Common mistakes` section");
    use rustflow_engine::lint::*;
    for code in [
        QUOTED_VARIABLE,
        UNREACHABLE,
        UNSET_VARIABLE,
        DIGITS_MIN_MAX,
        DIGITS_NEVER_MATCH,
        FILE_TYPE,
    ] {
        assert!(
            mistakes.contains(&format!("| `{code}` |")),
            "`{code}` has no row in Common mistakes"
        );
    }
}
