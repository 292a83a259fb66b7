//! `mod_rustflow.conf`: the parameters documented in README.md ("Configuration") and in
//! mod_rustflow.conf.xml, parsed from `<param name= value=/>` pairs.
//!
//! Pure: the XML registry is read by `load_config` in `crate::module_glue`; this file turns
//! the pairs into a [`Config`] and reports every problem (unknown param, bad value) so load
//! can log it. A bad value keeps the default.

use std::path::PathBuf;

use rustflow_engine::UnknownApps;

/// The name of the configuration section.
pub const CONFIG_NAME: &str = "mod_rustflow.conf";

/// How `generateLink` signs URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFormat {
    HmacSha256,
    NginxSecureLink,
}

/// Where the flows are read from (`flows-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowsSource {
    /// The `*.json` files of `flows-dir` (the default).
    Dir,
    /// The flows table of this PostgreSQL database (`rustflow flow push` writes it; a
    /// listener reloads on every push).
    Postgres(String),
}

/// A `<tts-provider name= engine= voice=/>` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsProvider {
    pub name: String,
    pub engine: String,
    pub voice: String,
}

/// The module's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub flows_source: FlowsSource,
    pub flows_dir: PathBuf,
    pub media_dir: PathBuf,
    pub recordings_dir: PathBuf,
    pub default_domain: String,
    pub unknown_apps: UnknownApps,
    pub max_steps: u64,
    pub max_goto: u32,
    /// The timeout of `httpRequest` when the flow gives none, and the most a flow may ask for.
    pub http_timeout_ms: u64,
    /// Whether flows may use `httpRequest.insecureSkipVerify: true` (no certificate checks
    /// for that request); when false such flows are rejected at load/reload.
    pub http_allow_insecure: bool,
    /// PEM file of extra CAs `httpRequest` trusts (empty = the Mozilla roots only).
    pub http_ca_file: PathBuf,
    pub tts_engine: String,
    pub tts_voice: String,
    pub tts_providers: Vec<TtsProvider>,
    pub asr_engine: String,
    pub asr_grammar: String,
    pub link_secret: String,
    pub link_base_url: String,
    pub link_format: LinkFormat,
    pub step_events: bool,
    /// The contact-centre store: a SQLite file (default `$${db_dir}/rustflow-cc.sqlite`).
    pub store: String,
}

/// The FreeSWITCH global variables the defaults come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    pub conf_dir: Option<String>,
    pub sounds_dir: Option<String>,
    pub recordings_dir: Option<String>,
    pub db_dir: Option<String>,
}

/// Every param name the module knows, for the unknown-param report.
pub const PARAMS: &[&str] = &[
    "flows-dir",
    "flows-source",
    "media-dir",
    "recordings-dir",
    "default-domain",
    "unknown-apps",
    "max-steps",
    "max-goto",
    "http-timeout-ms",
    "http-allow-insecure",
    "http-ca-file",
    "tts-engine",
    "tts-voice",
    "asr-engine",
    "asr-grammar",
    "link-secret",
    "link-base-url",
    "link-format",
    "step-events",
    "store",
];

/// Defaults, as README.md ("Configuration") lists them.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;
pub const DEFAULT_MAX_GOTO: u32 = 1000;
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 5000;

impl Config {
    /// The configuration with every default, from FreeSWITCH's directories.
    pub fn defaults(globals: &Globals) -> Config {
        let dir = |value: &Option<String>| PathBuf::from(value.clone().unwrap_or_default());
        Config {
            flows_source: FlowsSource::Dir,
            flows_dir: globals
                .conf_dir
                .as_ref()
                .map(|c| PathBuf::from(c).join("flows"))
                .unwrap_or_default(),
            media_dir: dir(&globals.sounds_dir),
            recordings_dir: dir(&globals.recordings_dir),
            default_domain: String::new(),
            unknown_apps: UnknownApps::Error,
            max_steps: DEFAULT_MAX_STEPS,
            max_goto: DEFAULT_MAX_GOTO,
            http_timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            http_allow_insecure: false,
            http_ca_file: PathBuf::new(),
            tts_engine: String::new(),
            tts_voice: String::new(),
            tts_providers: Vec::new(),
            asr_engine: String::new(),
            asr_grammar: String::new(),
            link_secret: String::new(),
            link_base_url: String::new(),
            link_format: LinkFormat::HmacSha256,
            step_events: false,
            store: globals
                .db_dir
                .as_ref()
                .map(|d| {
                    PathBuf::from(d)
                        .join("rustflow-cc.sqlite")
                        .display()
                        .to_string()
                })
                .unwrap_or_default(),
        }
    }

    /// Parses `<param>` pairs (in document order) and `<tts-provider>` attributes over the
    /// defaults. Returns the configuration and one message per problem.
    pub fn parse(
        globals: &Globals,
        params: &[(String, String)],
        providers: &[(String, String, String)],
    ) -> (Config, Vec<String>) {
        let mut config = Config::defaults(globals);
        let mut problems = Vec::new();
        for (name, value) in params {
            let value = value.trim();
            let mut bad = |expected: &str| {
                problems.push(format!(
                    "{CONFIG_NAME}: param \"{name}\" = \"{value}\": expected {expected}; keeping the default"
                ))
            };
            match name.as_str() {
                "flows-source" => match value {
                    "" | "dir" => config.flows_source = FlowsSource::Dir,
                    url if rustflow_flowstore::is_postgres_url(url) => {
                        config.flows_source = FlowsSource::Postgres(url.to_string())
                    }
                    _ => problems.push(format!(
                        "{CONFIG_NAME}: param \"{name}\" = \"{}\": expected `dir` or a postgres:// URL; keeping the default",
                        rustflow_flowstore::redact(value)
                    )),
                },
                "flows-dir" => config.flows_dir = PathBuf::from(value),
                "media-dir" => config.media_dir = PathBuf::from(value),
                "recordings-dir" => config.recordings_dir = PathBuf::from(value),
                "default-domain" => config.default_domain = value.to_string(),
                "unknown-apps" => match value {
                    "error" => config.unknown_apps = UnknownApps::Error,
                    "skip" => config.unknown_apps = UnknownApps::Skip,
                    _ => bad("`error` or `skip`"),
                },
                "max-steps" => match value.parse::<u64>() {
                    Ok(n) if n > 0 => config.max_steps = n,
                    _ => bad("a whole number above 0"),
                },
                "max-goto" => match value.parse::<u32>() {
                    Ok(n) => config.max_goto = n,
                    _ => bad("a whole number"),
                },
                "http-timeout-ms" => match value.parse::<u64>() {
                    Ok(n) if n > 0 => config.http_timeout_ms = n,
                    _ => bad("a whole number of milliseconds above 0"),
                },
                "http-allow-insecure" => match parse_bool(value) {
                    Some(b) => config.http_allow_insecure = b,
                    None => bad("true or false"),
                },
                "http-ca-file" => config.http_ca_file = PathBuf::from(value),
                "tts-engine" => config.tts_engine = value.to_string(),
                "tts-voice" => config.tts_voice = value.to_string(),
                "asr-engine" => config.asr_engine = value.to_string(),
                "asr-grammar" => config.asr_grammar = value.to_string(),
                "link-secret" => config.link_secret = value.to_string(),
                "link-base-url" => config.link_base_url = value.to_string(),
                "link-format" => match value {
                    "hmac-sha256" => config.link_format = LinkFormat::HmacSha256,
                    "nginx-secure-link" => config.link_format = LinkFormat::NginxSecureLink,
                    _ => bad("`hmac-sha256` or `nginx-secure-link`"),
                },
                "step-events" => match parse_bool(value) {
                    Some(b) => config.step_events = b,
                    None => bad("true or false"),
                },
                "store" => config.store = value.to_string(),
                "" => problems.push(format!(
                    "{CONFIG_NAME}: a <param> without a name is ignored"
                )),
                _ => problems.push(format!(
                    "{CONFIG_NAME}: unknown param \"{name}\" is ignored (known: {})",
                    PARAMS.join(", ")
                )),
            }
        }
        for (name, engine, voice) in providers {
            if name.is_empty() || engine.is_empty() {
                problems.push(format!(
                    "{CONFIG_NAME}: <tts-provider> needs `name` and `engine` (got name=\"{name}\" engine=\"{engine}\"); ignored"
                ));
                continue;
            }
            if config.tts_providers.iter().any(|p| &p.name == name) {
                problems.push(format!("{CONFIG_NAME}: <tts-provider name=\"{name}\"> appears twice; the first one counts"));
                continue;
            }
            config.tts_providers.push(TtsProvider {
                name: name.clone(),
                engine: engine.clone(),
                voice: voice.clone(),
            });
        }
        if config.flows_source == FlowsSource::Dir && config.flows_dir.as_os_str().is_empty() {
            problems.push(format!(
                "{CONFIG_NAME}: no flows-dir and FreeSWITCH has no conf_dir global; no flows will load"
            ));
        }
        (config, problems)
    }

    /// Where the flows come from, for messages: the directory, or the URL without its
    /// password.
    pub fn flows_origin(&self) -> String {
        match &self.flows_source {
            FlowsSource::Dir => self.flows_dir.display().to_string(),
            FlowsSource::Postgres(url) => rustflow_flowstore::redact(url),
        }
    }

    /// The TTS engine and voice for a flow's provider name (or the defaults when `None`).
    pub fn tts_for(
        &self,
        provider: Option<&str>,
        voice: Option<&str>,
    ) -> Result<(String, String), String> {
        let (engine, default_voice) = match provider.filter(|p| !p.is_empty()) {
            Some(name) => match self.tts_providers.iter().find(|p| p.name == name) {
                Some(p) => (p.engine.clone(), p.voice.clone()),
                // Not a configured provider name: the flow named a FreeSWITCH TTS engine.
                None => (name.to_string(), self.tts_voice.clone()),
            },
            None => (self.tts_engine.clone(), self.tts_voice.clone()),
        };
        if engine.is_empty() {
            return Err(
                "no TTS engine configured (set tts-engine in mod_rustflow.conf)".to_string(),
            );
        }
        let voice = voice
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .unwrap_or(default_voice);
        Ok((engine, voice))
    }
}

/// FreeSWITCH's `switch_true` spellings.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "enabled" | "active" | "allow" => Some(true),
        "false" | "no" | "off" | "0" | "disabled" | "inactive" | "deny" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals() -> Globals {
        Globals {
            conf_dir: Some("/etc/freeswitch".into()),
            sounds_dir: Some("/usr/share/freeswitch/sounds".into()),
            recordings_dir: Some("/var/lib/freeswitch/recordings".into()),
            db_dir: Some("/var/lib/freeswitch/db".into()),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_come_from_freeswitch_globals() {
        let (config, problems) = Config::parse(&globals(), &[], &[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.flows_dir, PathBuf::from("/etc/freeswitch/flows"));
        assert_eq!(
            config.media_dir,
            PathBuf::from("/usr/share/freeswitch/sounds")
        );
        assert_eq!(
            config.recordings_dir,
            PathBuf::from("/var/lib/freeswitch/recordings")
        );
        assert_eq!(config.unknown_apps, UnknownApps::Error);
        assert_eq!(
            (config.max_steps, config.max_goto, config.http_timeout_ms),
            (100_000, 1000, 5000)
        );
        assert_eq!(config.link_format, LinkFormat::HmacSha256);
        assert!(!config.step_events);
        assert!(!config.http_allow_insecure);
        assert_eq!(config.store, "/var/lib/freeswitch/db/rustflow-cc.sqlite");
    }

    #[test]
    fn every_param_is_parsed() {
        let params = pairs(&[
            ("flows-dir", "/srv/flows"),
            ("flows-source", "postgres://flows@db/pbx"),
            ("media-dir", "/srv/media"),
            ("recordings-dir", "/srv/rec"),
            ("default-domain", "example.com"),
            ("unknown-apps", "skip"),
            ("max-steps", "500"),
            ("max-goto", "7"),
            ("http-timeout-ms", " 2500 "),
            ("http-allow-insecure", "true"),
            ("http-ca-file", "/etc/ssl/internal-ca.pem"),
            ("tts-engine", "flite"),
            ("tts-voice", "kal"),
            ("asr-engine", "pocketsphinx"),
            ("asr-grammar", "default"),
            ("link-secret", "s3cret"),
            ("link-base-url", "https://media.example.com"),
            ("link-format", "nginx-secure-link"),
            ("step-events", "yes"),
            ("store", "postgres://cc@db/cc"),
        ]);
        assert_eq!(params.len(), PARAMS.len(), "the test covers every param");
        let providers = vec![(
            "google".to_string(),
            "unimrcp:google".to_string(),
            "en-US-Wavenet-A".to_string(),
        )];
        let (c, problems) = Config::parse(&globals(), &params, &providers);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.flows_dir, PathBuf::from("/srv/flows"));
        assert_eq!(c.media_dir, PathBuf::from("/srv/media"));
        assert_eq!(c.recordings_dir, PathBuf::from("/srv/rec"));
        assert_eq!(c.default_domain, "example.com");
        assert_eq!(c.unknown_apps, UnknownApps::Skip);
        assert_eq!((c.max_steps, c.max_goto, c.http_timeout_ms), (500, 7, 2500));
        assert!(c.http_allow_insecure);
        assert_eq!(c.http_ca_file, PathBuf::from("/etc/ssl/internal-ca.pem"));
        assert_eq!(
            (c.tts_engine.as_str(), c.tts_voice.as_str()),
            ("flite", "kal")
        );
        assert_eq!(
            (c.asr_engine.as_str(), c.asr_grammar.as_str()),
            ("pocketsphinx", "default")
        );
        assert_eq!(c.link_secret, "s3cret");
        assert_eq!(c.link_base_url, "https://media.example.com");
        assert_eq!(c.link_format, LinkFormat::NginxSecureLink);
        assert!(c.step_events);
        assert_eq!(c.store, "postgres://cc@db/cc");
        assert_eq!(
            c.flows_source,
            FlowsSource::Postgres("postgres://flows@db/pbx".into())
        );
        assert_eq!(c.tts_providers.len(), 1);
        assert_eq!(
            c.tts_for(Some("google"), None).unwrap(),
            ("unimrcp:google".into(), "en-US-Wavenet-A".into())
        );
        assert_eq!(
            c.tts_for(None, Some("slt")).unwrap(),
            ("flite".into(), "slt".into())
        );
    }

    #[test]
    fn unknown_params_and_bad_values_are_reported_and_defaults_kept() {
        let params = pairs(&[
            ("flow-dir", "/typo"),
            ("max-steps", "lots"),
            ("unknown-apps", "ignore"),
            ("link-format", "md5"),
            ("step-events", "maybe"),
            ("http-timeout-ms", "0"),
            ("http-allow-insecure", "sometimes"),
        ]);
        let (c, problems) = Config::parse(&globals(), &params, &[]);
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(problems[0].starts_with(
            "mod_rustflow.conf: unknown param \"flow-dir\" is ignored (known: flows-dir,"
        ));
        assert_eq!(
            problems[1],
            "mod_rustflow.conf: param \"max-steps\" = \"lots\": expected a whole number above 0; keeping the default"
        );
        assert!(problems[2].contains("expected `error` or `skip`"));
        assert_eq!(c.max_steps, DEFAULT_MAX_STEPS);
        assert_eq!(c.unknown_apps, UnknownApps::Error);
        assert_eq!(c.http_timeout_ms, DEFAULT_HTTP_TIMEOUT_MS);
        assert_eq!(
            problems[6],
            "mod_rustflow.conf: param \"http-allow-insecure\" = \"sometimes\": expected true or false; keeping the default"
        );
        assert!(!c.http_allow_insecure);
    }

    #[test]
    fn flows_source_is_dir_or_a_postgres_url() {
        let (c, problems) = Config::parse(&globals(), &[], &[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.flows_source, FlowsSource::Dir);
        assert_eq!(c.flows_origin(), "/etc/freeswitch/flows");

        let url = "postgresql://flows:s3cret@db/pbx";
        let (c, problems) = Config::parse(&globals(), &pairs(&[("flows-source", url)]), &[]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.flows_source, FlowsSource::Postgres(url.into()));
        assert_eq!(c.flows_origin(), "postgresql://flows:***@db/pbx");

        let (c, problems) = Config::parse(
            &globals(),
            &pairs(&[
                ("flows-source", "postgres://a@db/x"),
                ("flows-source", "dir"),
            ]),
            &[],
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.flows_source, FlowsSource::Dir, "the last one counts");

        let (c, problems) = Config::parse(
            &globals(),
            &pairs(&[("flows-source", "mysql://u:pw@db/x")]),
            &[],
        );
        assert_eq!(
            problems,
            [
                "mod_rustflow.conf: param \"flows-source\" = \"mysql://u:***@db/x\": expected `dir` or a postgres:// URL; keeping the default"
            ]
        );
        assert_eq!(c.flows_source, FlowsSource::Dir);

        // Flows from the database need no directory.
        let (_, problems) = Config::parse(
            &Globals::default(),
            &pairs(&[("flows-source", "postgres://db/x")]),
            &[],
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn missing_conf_dir_is_reported() {
        let (c, problems) = Config::parse(&Globals::default(), &[], &[]);
        assert!(c.flows_dir.as_os_str().is_empty());
        assert_eq!(
            problems,
            vec![
                "mod_rustflow.conf: no flows-dir and FreeSWITCH has no conf_dir global; no flows will load"
            ]
        );
    }

    #[test]
    fn tts_without_engine_is_a_clear_error() {
        let (c, _) = Config::parse(&globals(), &[], &[]);
        assert_eq!(
            c.tts_for(None, None).unwrap_err(),
            "no TTS engine configured (set tts-engine in mod_rustflow.conf)"
        );
    }

    #[test]
    fn bad_tts_providers_are_reported() {
        let providers = vec![
            ("".to_string(), "x".to_string(), "".to_string()),
            ("a".to_string(), "e1".to_string(), "v".to_string()),
            ("a".to_string(), "e2".to_string(), "v".to_string()),
        ];
        let (c, problems) = Config::parse(&globals(), &[], &providers);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(c.tts_providers[0].engine, "e1");
    }
}
