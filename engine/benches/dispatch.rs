//! Engine benchmarks of issue 3: dispatch cost per non-media step, template expansion,
//! compile time of the corpus schemas. Run: `cargo bench -p rustflow-engine --bench dispatch`.
//!
//! Dispatch: a flow of `STEPS` identical steps runs on a host that does nothing; the time
//! reported is the run time divided by the steps the engine counted, i.e. per step.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: the
//! machine is a shared 2-core box where other builds preempt the bench, which inflates wall
//! time but not the CPU time the engine itself uses.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rustflow_engine::template::{Scope, Template};
use rustflow_engine::*;

const STEPS: usize = 1000;

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times; returns the CPU time the thread spent.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}

fn noop_value(name: &str) -> Option<&'static str> {
    match name {
        "counter" => Some("3"),
        "choice" => Some("2"),
        "name" => Some("Alice"),
        "order" => Some("A-1042"),
        "date" => Some("2026-11-30"),
        _ => None,
    }
}

/// A host that answers every call at once: what is measured is the engine alone.
struct NoopHost {
    /// Lend variable values (`var_into`) as the simulator does; `false` = the trait's
    /// default (a `String` per read), as a host that only implements `var`.
    lend: bool,
}

fn lending() -> NoopHost {
    NoopHost { lend: true }
}

impl Host for NoopHost {
    fn uuid(&self) -> &str {
        "00000000-0000-0000-0000-000000000000"
    }
    fn is_up(&mut self) -> bool {
        true
    }
    fn now_micros(&mut self) -> i64 {
        1_780_000_000_000_000
    }
    fn log(&mut self, _level: LogLevel, _message: &str) {}
    /// As a production host with DEBUG logging off: no per-step debug lines are formatted.
    fn log_enabled(&mut self, level: LogLevel) -> bool {
        level > LogLevel::Debug
    }
    fn var(&mut self, name: &str) -> Option<String> {
        noop_value(name).map(str::to_string)
    }
    /// As a host that lends the value it holds (the simulator, the module).
    fn var_into(&mut self, name: &str, out: &mut String) -> bool {
        if self.lend {
            noop_value(name).map(|v| out.push_str(v)).is_some()
        } else {
            self.var(name).map(|v| out.push_str(&v)).is_some()
        }
    }
    fn global_var(&mut self, _name: &str) -> Option<String> {
        None
    }
    fn set_var(&mut self, _name: &str, _value: &str) -> HostResult<()> {
        Ok(())
    }
    fn unset_var(&mut self, _name: &str) -> HostResult<()> {
        Ok(())
    }
    fn export_var(&mut self, _name: &str, _value: &str, _scope: ExportScope) -> HostResult<()> {
        Ok(())
    }
    fn ring_ready(&mut self) -> HostResult<()> {
        Ok(())
    }
    fn pre_answer(&mut self) -> HostResult<()> {
        Ok(())
    }
    fn answer(&mut self) -> HostResult<()> {
        Ok(())
    }
    fn hangup(&mut self, _cause: HangupCause) -> HostResult<()> {
        Err(HostError::Hangup)
    }
    fn play(
        &mut self,
        _files: &[PlayFile],
        _capture: Option<&DigitCapture>,
    ) -> HostResult<PlayOutcome> {
        Ok(PlayOutcome::default())
    }
    fn sleep(&mut self, _ms: u64) -> HostResult<()> {
        Ok(())
    }
    fn soft_sleep(&mut self, _ms: u64) -> HostResult<()> {
        Ok(())
    }
    fn http(&mut self, _request: &HttpRequest) -> HostResult<HttpResponse> {
        Err(HostError::Failed("no network in benchmarks".into()))
    }
}

/// `STEPS` copies of one application object.
fn repeated(step: &str) -> String {
    let steps: Vec<&str> = std::iter::repeat_n(step, STEPS).collect();
    format!("[{}]", steps.join(","))
}

/// `STEPS` `js` steps, each body different.
fn distinct_js() -> String {
    let steps: Vec<String> = (0..STEPS)
        .map(|i| {
            format!(
                r#"{{"js": {{"data": "var x = +${{counter}} + {i};\nreturn x;", "setVar": "x"}}}}"#
            )
        })
        .collect();
    format!("[{}]", steps.join(","))
}

/// A chain of `STEPS` gotos, each jumping to the next tag.
fn goto_chain() -> String {
    let steps: Vec<String> = (0..STEPS)
        .map(|i| format!(r#"{{"tag": "t{i}", "goto": "t{}"}}"#, i + 1))
        .chain(std::iter::once(format!(
            r#"{{"tag": "t{STEPS}", "log": "end"}}"#
        )))
        .collect();
    format!("[{}]", steps.join(","))
}

fn compile(id: &str, text: &str) -> Flow {
    compile_source(id, &format!("{id}.json"), text, &CompileOptions::default())
        .unwrap_or_else(|errors| panic!("{id}: {errors:?}"))
}

fn dispatch(c: &mut Criterion) {
    let flows = [
        ("set", repeated(r#"{"set": {"x": "1"}}"#), STEPS),
        (
            "if_native_eq",
            repeated(r#"{"if": {"expression": "${counter} == '3'", "then": [], "else": []}}"#),
            STEPS,
        ),
        (
            "if_native_and",
            repeated(
                r#"{"if": {"expression": "${counter} > 2 && ${choice} == '2'", "then": [], "else": []}}"#,
            ),
            STEPS,
        ),
        ("goto", goto_chain(), STEPS + 1),
        // Not a target of the "non-media step" budget: the `js` step through the
        // interpreter (sandbox started once per call, so amortised over the run).
        (
            "js",
            repeated(r#"{"js": {"data": "var x = +${counter} + 1;\nreturn x;", "setVar": "x"}}"#),
            STEPS,
        ),
        // A one-line `return` of a native expression: no sandbox at all.
        (
            "js_return",
            repeated(r#"{"js": {"data": "return +${counter} + 1;", "setVar": "x"}}"#),
            STEPS,
        ),
        // The same, but every step a different body: each distinct body is compiled
        // once per call (per sandbox), so this is the cost of a body's first run in a call.
        ("js_distinct", distinct_js(), STEPS),
        (
            "switch",
            repeated(
                r#"{"switch": {"variable": "${choice}", "case": {"1": [], "2": [], "default": []}}}"#,
            ),
            STEPS,
        ),
    ];
    let set = FlowSet::empty();
    let limits = Limits {
        max_steps: u64::MAX,
        max_goto: u32::MAX,
    };
    let mut group = c.benchmark_group("dispatch_per_step");
    for (name, text, expected_steps) in flows {
        let flow = compile(name, &text);
        // The flow runs as intended: every step counted, no error.
        let outcome = run(&flow, &set, &mut lending(), &[], &limits);
        assert_eq!(outcome.error, None, "{name}");
        assert_eq!(outcome.steps as usize, expected_steps, "{name}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    std::hint::black_box(run(&flow, &set, &mut lending(), &[], &limits));
                }) / u32::try_from(expected_steps).unwrap()
            })
        });
    }
    // The compound `if` on a host that does not lend values (one `String` per variable
    // read, the trait's default `var_into`).
    let flow = compile(
        "if_native_and_copying_host",
        &repeated(
            r#"{"if": {"expression": "${counter} > 2 && ${choice} == '2'", "then": [], "else": []}}"#,
        ),
    );
    group.bench_function("if_native_and_copying_host", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut host = NoopHost { lend: false };
                std::hint::black_box(run(&flow, &set, &mut host, &[], &limits));
            }) / u32::try_from(STEPS).unwrap()
        })
    });
    group.finish();
}

fn template(c: &mut Criterion) {
    let template = Template::parse("Hello ${name}, your order ${order} ships on ${date}.");
    let mut host = lending();
    let mut scope = Scope {
        host: &mut host,
        args: &[],
    };
    assert_eq!(
        template.expand(&mut scope),
        "Hello Alice, your order A-1042 ships on 2026-11-30."
    );
    c.bench_function("template_expand_3_vars", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                std::hint::black_box(template.expand(&mut scope).len());
            })
        })
    });
}

fn corpus_compile(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "note: {} is absent; corpus compile benchmarks skipped",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    // `compile` is compilation alone, the same work as before the lint pass existed; `load`
    // adds the lint pass, as the module and `rustflow check` run it.
    for (group_name, skip_lint) in [("compile", true), ("load", false)] {
        let options = CompileOptions {
            unknown_apps: UnknownApps::Skip,
            skip_lint,
            ..CompileOptions::default()
        };
        let mut group = c.benchmark_group(group_name);
        for path in &files {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            compile_source(&name, &path.display().to_string(), &text, &options)
                .unwrap_or_else(|errors| panic!("{name}: {errors:?}"));
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    timed(iters, || {
                        std::hint::black_box(
                            compile_source(
                                &name,
                                "corpus.json",
                                std::hint::black_box(&text),
                                &options,
                            )
                            .is_ok(),
                        );
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = dispatch, template, corpus_compile
}
criterion_main!(benches);
