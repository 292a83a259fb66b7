//! The `rustflow` API command as fs_cli runs it: list, show, validate, stats, version (plain
//! and `json`), and reload — atomic, with file + JSON pointer + reason when a flow is broken.
//! Output formats are the module's (src/api.rs): `+OK`/`-ERR` first lines, one JSON object
//! per answer with a trailing `json` word.

use rustflow_harness::*;
use serde_json::json;

const MENU: &str = r#"[
  {"answer": ""},
  {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}]}, "tag": "menu"},
  {"set": {"choice": "1"}},
  {"log": "menu done"},
  {"hangup": "USER_BUSY"}
]"#;
const BUSY: &str = r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#;
/// Line 3 holds the bad cause; the diagnostic points at /1/hangup.
const BROKEN: &str = "[\n  {\"answer\": \"\"},\n  {\"hangup\": \"NOT_A_CAUSE\"}\n]\n";

fn loaded_with(flows: &[(&str, &str)]) -> Harness {
    let mut h = Harness::new();
    for (id, json) in flows {
        h.write_flow(id, json);
    }
    h.load();
    h
}

fn version_of(h: &Harness, id: &str) -> String {
    let shown = h.api(&format!("show {id} json")).json();
    assert_eq!(shown["ok"], true, "{shown}");
    shown["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no version in {shown}"))
        .to_string()
}

fn file_of(h: &Harness, id: &str) -> String {
    h.flows_dir()
        .join(format!("{id}.json"))
        .display()
        .to_string()
}

fn is_version(v: &str) -> bool {
    v.len() == 16 && v.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn list_shows_every_flow_with_version_and_file_sorted_by_id() {
    let h = loaded_with(&[("menu", MENU), ("busy", BUSY)]);
    let menu = version_of(&h, "menu");
    let busy = version_of(&h, "busy");
    assert!(
        is_version(&menu) && is_version(&busy) && menu != busy,
        "{menu} {busy}"
    );

    assert_eq!(
        h.api_ok("list"),
        format!(
            "+OK 2 flows\nbusy\t{busy}\t{}\nmenu\t{menu}\t{}\n",
            file_of(&h, "busy"),
            file_of(&h, "menu")
        )
    );
    let json = h.api("list json").json();
    assert_eq!(json["ok"], true);
    let flows = json["flows"].as_array().expect("flows array");
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0]["id"], "busy");
    assert_eq!(flows[0]["version"], busy.as_str());
    assert_eq!(flows[0]["file"], file_of(&h, "busy"));
    assert_eq!(flows[0]["steps"], 2);
    assert_eq!(flows[1]["id"], "menu");
    assert_eq!(flows[1]["version"], menu.as_str());
    assert_eq!(flows[1]["steps"], 5);
}

#[test]
fn show_summarises_apps_tags_and_version() {
    let h = loaded_with(&[("menu", MENU)]);
    let version = version_of(&h, "menu");
    assert_eq!(
        h.api_ok("show menu"),
        format!(
            "+OK menu\nid: menu\nversion: {version}\nfile: {}\nsteps: 5\napps: answer=1 hangup=1 log=1 playback=1 set=1\ntags: menu\nfunctions: -\nskipped: -\n",
            file_of(&h, "menu")
        )
    );
    let json = h.api("show menu json").json();
    assert_eq!(json["id"], "menu");
    assert_eq!(json["version"], version.as_str());
    assert_eq!(
        json["apps"],
        json!({"answer": 1, "hangup": 1, "log": 1, "playback": 1, "set": 1})
    );
    assert_eq!(json["tags"], json!(["menu"]));
    assert_eq!(json["functions"], json!([]));

    assert_eq!(
        h.api("show nosuch").output,
        "-ERR no flow with id \"nosuch\" is loaded\n"
    );
    let missing = h.api("show nosuch json").json();
    assert_eq!(missing["ok"], false);
    assert!(
        missing["error"]
            .as_str()
            .is_some_and(|e| e.contains("nosuch")),
        "{missing}"
    );
}

#[test]
fn validate_checks_a_path_or_a_flow_id_with_file_pointer_and_reason() {
    let h = loaded_with(&[("menu", MENU)]);
    // A good file anywhere (the operator names it explicitly).
    let good = h.root().join("candidate.json");
    std::fs::write(&good, BUSY).unwrap();
    let out = h.api_ok(&format!("validate {}", good.display()));
    assert!(
        out.starts_with(&format!(
            "+OK {} is valid: flow candidate, version ",
            good.display()
        )) && out.ends_with(", 2 steps\n"),
        "{out}"
    );
    let json = h.api(&format!("validate {} json", good.display())).json();
    assert_eq!(
        (
            json["ok"].clone(),
            json["valid"].clone(),
            json["id"].clone()
        ),
        (json!(true), json!(true), json!("candidate"))
    );

    // A broken file: file, line:column, JSON pointer and reason.
    let bad = h.root().join("broken.json");
    std::fs::write(&bad, BROKEN).unwrap();
    let out = h.api(&format!("validate {}", bad.display())).output;
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(format!("-ERR {}: 1 problem", bad.display()).as_str()),
        "{out}"
    );
    let diag = lines
        .next()
        .unwrap_or_else(|| panic!("no diagnostic line: {out}"));
    assert!(
        diag.starts_with(&format!("{}:3:", bad.display())),
        "file and line of the bad value: {diag}"
    );
    assert!(
        diag.contains(": /1/hangup: ") && diag.contains("NOT_A_CAUSE"),
        "{diag}"
    );
    let json = h.api(&format!("validate {} json", bad.display())).json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["diagnostics"][0]["pointer"], "/1/hangup");
    assert_eq!(json["diagnostics"][0]["line"], 3);
    assert_eq!(json["diagnostics"][0]["file"], bad.display().to_string());

    // Malformed JSON names the file and the place.
    std::fs::write(&bad, "[{\"answer\": \"\"},\n").unwrap();
    let out = h.api(&format!("validate {}", bad.display())).output;
    assert!(
        out.starts_with(&format!("-ERR {}: ", bad.display())),
        "{out}"
    );
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|d| d.starts_with(&format!("{}:2:", bad.display()))),
        "{out}"
    );

    // By id: the file in flows-dir as it is now on disk.
    assert!(
        h.api_ok("validate menu")
            .starts_with(&format!("+OK {} is valid: flow menu", file_of(&h, "menu")))
    );
    h.write_flow("menu", "[{\"hangup\": \"NOPE\"}]");
    let out = h.api("validate menu").output;
    assert!(
        out.starts_with(&format!("-ERR {}: 1 problem\n", file_of(&h, "menu"))),
        "{out}"
    );
    assert!(out.contains(": /0/hangup: "), "{out}");
    // A hostile id is not turned into a path.
    let out = h.api("validate ..").output;
    assert_eq!(out, "-ERR \"..\" is neither a path nor a valid flow id\n");
    // A missing path.
    let out = h
        .api(&format!(
            "validate {}",
            h.root().join("absent.json").display()
        ))
        .output;
    assert_eq!(
        out,
        format!(
            "-ERR {} does not exist\n",
            h.root().join("absent.json").display()
        )
    );
}

#[test]
fn stats_and_version_report_the_module_state() {
    let h = loaded_with(&[("menu", MENU), ("busy", BUSY)]);
    let call = h.run_flow("busy");
    assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY));
    let _unknown = h.run_flow("nosuch");

    let stats = h.api_ok("stats");
    for line in [
        "+OK\n",
        "flows loaded: 2\n",
        "calls running: 0\n",
        "calls total: 1\n",
        "steps run: 2\n",
        "errors: 1\n",
        "reloads: 1 ok, 0 failed\n",
    ] {
        assert!(stats.contains(line), "`stats` lacks {line:?}:\n{stats}");
    }
    assert!(
        stats.contains("last reload: 20") && stats.contains("Z (ok)"),
        "{stats}"
    );
    let json = h.api("stats json").json();
    assert_eq!(json["flows_loaded"], 2, "{json}");
    assert_eq!(json["calls_running"], 0, "{json}");
    assert_eq!(json["calls_total"], 1, "{json}");
    assert_eq!(json["steps_run"], 2, "{json}");
    assert_eq!(json["errors"], 1, "{json}");
    assert_eq!(json["last_reload_ok"], true, "{json}");

    let version = h.api_ok("version");
    let expected = format!(
        "+OK mod_rustflow {} (FreeSWITCH module API {};",
        env!("CARGO_PKG_VERSION"),
        header_api_version()
    );
    assert!(version.starts_with(&expected), "{version}");
    let json = h.api("version json").json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["api_version"], header_api_version());
}

#[test]
fn a_reload_with_one_broken_flow_changes_nothing() {
    let mut h = loaded_with(&[("menu", MENU), ("busy", BUSY)]);
    let before_list = h.api_ok("list");
    let busy_version = version_of(&h, "busy");
    let complete_before = FakeCore::complete_strings().len();

    // One broken flow, one new good flow, one good flow changed, one removed.
    h.write_flow("broken", BROKEN);
    h.write_flow("fresh", BUSY);
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "NORMAL_CLEARING"}]"#);
    h.remove_flow("menu");
    let out = h.api("reload").output;
    let dir = h.flows_dir().display().to_string();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(format!("-ERR reload of {dir} failed with 1 problem; still serving the 2 flows loaded before").as_str()),
        "{out}"
    );
    let diag = lines
        .next()
        .unwrap_or_else(|| panic!("no diagnostic: {out}"));
    assert!(
        diag.starts_with(&format!("{}:3:", file_of(&h, "broken"))),
        "{diag}"
    );
    assert!(
        diag.contains(": /1/hangup: ") && diag.contains("NOT_A_CAUSE"),
        "{diag}"
    );
    assert_eq!(
        lines.next(),
        None,
        "only the broken flow is reported: {out}"
    );
    assert!(
        FakeCore::logs().iter().any(|l| l.level == LOG_ERROR
            && l.uuid.is_none()
            && l.text.trim_end() == format!("rustflow: {diag}")),
        "the failed reload is logged:\n{}",
        FakeCore::logs_text()
    );
    let json = h.api("reload json").json();
    assert_eq!(
        (
            json["ok"].clone(),
            json["reloaded"].clone(),
            json["kept"].clone()
        ),
        (json!(false), json!(false), json!(2))
    );
    assert_eq!(json["diagnostics"][0]["pointer"], "/1/hangup");
    assert_eq!(
        FakeCore::complete_strings().len(),
        complete_before,
        "a failed reload leaves completion alone"
    );

    // The old set keeps serving.
    assert_eq!(h.api_ok("list"), before_list);
    assert_eq!(version_of(&h, "busy"), busy_version);
    let call = h.run_flow("busy");
    assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY));
    assert_eq!(
        call.var("rustflow_flow_version"),
        Some(busy_version.as_str())
    );
    let call = h.run_flow("menu");
    assert_eq!(
        call.var("choice"),
        Some("1"),
        "a flow removed on disk is still served: {:#?}",
        call.record
    );
    let stats = h.api("stats json").json();
    assert_eq!(stats["reloads_failed"], 2, "{stats}");
    assert_eq!(stats["last_reload_ok"], false, "{stats}");

    // Fixed: the reload goes through and everything changes at once.
    h.remove_flow("broken");
    assert_eq!(
        h.api_ok("reload"),
        format!("+OK reloaded 2 flows from {dir}\n")
    );
    let list = h.api_ok("list");
    assert!(
        list.starts_with("+OK 2 flows\nbusy\t")
            && list.contains("\nfresh\t")
            && !list.contains("menu"),
        "{list}"
    );
    assert_ne!(version_of(&h, "busy"), busy_version);
    assert_eq!(h.run_flow("busy").hangup_cause, Some(CAUSE_NORMAL_CLEARING));
    let complete = FakeCore::complete_strings();
    let since = &complete[complete_before..];
    assert_eq!(
        since.first().map(String::as_str),
        Some("del rustflow"),
        "{since:?}"
    );
    assert!(
        since.iter().any(|c| c == "add rustflow show fresh"),
        "completion follows reloads: {since:?}"
    );
    assert!(
        !since.iter().any(|c| c == "add rustflow show menu"),
        "{since:?}"
    );

    // `reload mod_rustflow`: shutdown and load again serve the new set.
    assert_eq!(h.shutdown(), STATUS_SUCCESS);
    h.load();
    assert_eq!(h.api_ok("list"), list);
}

#[test]
fn bare_and_unknown_subcommands_print_usage() {
    let h = loaded_with(&[("busy", BUSY)]);
    let usage =
        "rustflow reload|list|show ID|validate PATH|ID|stats|version [json] | rustflow cc WORDS";
    assert_eq!(
        FakeCore::api("rustflow", None).output,
        format!("-ERR usage: {usage}\n")
    );
    assert_eq!(h.api("").output, format!("-ERR usage: {usage}\n"));
    assert_eq!(
        h.api("frobnicate").output,
        format!("-ERR unknown command `frobnicate`; usage: {usage}\n")
    );
    assert_eq!(
        h.api("show a b").output,
        format!("-ERR `show` takes exactly one argument; usage: {usage}\n")
    );
}

/// A flow that loads with a note (`vip` is never set) and a warning (a step after hangup).
const TRAPPED: &str =
    "[\n  {\"log\": \"${vip}\"},\n  {\"hangup\": \"\"},\n  {\"log\": \"never\"}\n]\n";

#[test]
fn validate_lists_the_warnings_and_notes_of_a_flow_that_loads() {
    let h = loaded_with(&[("menu", MENU)]);
    let dir = h.root().join("candidates");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trapped.json");
    std::fs::write(&file, TRAPPED).unwrap();
    let f = file.display();
    let note = format!(
        "{f}:2:11: /0/log: note[unset-variable]: `vip` is read, but no step of this flow sets it and it is neither a FreeSWITCH variable nor an application's output (fine if the dialplan or the caller sets it); fix: set it before this step, or check its spelling"
    );
    let warning = format!(
        "{f}:4:3: /2: warning[unreachable]: this step never runs: `hangup` at /1/hangup ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `hangup`"
    );

    let out = h.api_ok(&format!("validate {f}"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!("+OK {f} is valid: flow trapped, version ")),
        "{out}"
    );
    assert_eq!(lines[1..], [note.as_str(), warning.as_str()], "{out}");

    let json = h.api(&format!("validate {f} json")).json();
    assert_eq!(json["valid"], true, "{json}");
    assert_eq!(
        json["warnings"][1],
        json!({
            "file": f.to_string(), "pointer": "/2", "line": 4, "column": 3,
            "severity": "warning", "code": "unreachable",
            "message": "this step never runs: `hangup` at /1/hangup ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `hangup`",
        })
    );
    assert_eq!(json["warnings"][0]["severity"], "note", "{json}");

    // A directory: the same lines after the verdict.
    let out = h.api_ok(&format!("validate {}/", dir.display()));
    assert_eq!(
        out,
        format!("+OK {}/: 1 flow valid\n{note}\n{warning}\n", dir.display())
    );
    let json = h.api(&format!("validate {}/ json", dir.display())).json();
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(2), "{json}");
}

/// `rustflow cc` provisions the store named by `store`, the same language as the offline
/// tool; `json` and multi-word values pass through untouched.
#[test]
fn cc_provisions_the_contact_centre_store() {
    let mut h = Harness::with_cc_store();
    h.load();
    assert_eq!(
        h.api("cc queue add sales max_wait_secs=90").output,
        "added queue sales\n"
    );
    assert_eq!(
        h.api("cc agent add a1 extension=1001 name=Ann Smith")
            .output,
        "added agent a1\n"
    );
    assert_eq!(
        h.api("cc tier add sales a1").output,
        "added tier sales/a1\n"
    );
    assert_eq!(
        h.api("cc agent status a1 pause Lunch break").output,
        "agent a1: pause (Lunch break)\n"
    );
    let queues = h.api("cc queue list json").json();
    assert_eq!(queues[0]["id"], "sales");
    assert_eq!(queues[0]["max_wait_secs"], 90);
    assert_eq!(
        h.api("cc queue set sales max_wait_secs=abc").output,
        "-ERR queue sales: max_wait_secs: invalid type: string \"abc\", expected u64\n"
    );
    assert!(
        h.root().join("cc.sqlite").exists(),
        "the store file is where `store` says"
    );
}

/// A store that cannot be opened is one error at load; flows keep working and `rustflow cc`
/// says why.
#[test]
fn an_unusable_store_leaves_flows_working() {
    let mut h = Harness::new();
    h.write_flow("busy", BUSY);
    let flows = h.flows_dir().display().to_string();
    let bad = h.root().join("no/such/dir/cc.sqlite");
    h.set_params(&[("flows-dir", &flows), ("store", &bad.display().to_string())]);
    h.load();
    let expected = format!(
        "-ERR contact-centre store {}: unable to open database file\n",
        bad.display()
    );
    assert_eq!(h.api("cc queue list").output, expected);
    assert!(h.api("list").output.contains("busy"));
}
