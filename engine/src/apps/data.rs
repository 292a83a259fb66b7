//! Data: channel variables, logging, JavaScript (`js`, `math`, `string`), HTTP requests,
//! signed links, calendars and the time zone of the date helpers.

use serde_json::{Value as Json, json};

use super::{App, At, Family};
use crate::compile::{AppCx, Args, Compiler, find_ci, queue_source};
use crate::flow::Flow;
use crate::graph::scalar;
use crate::host::*;
use crate::interp::{Control, Machine, StepError, StepResult};
use crate::json::{Kind, Member, pointer_join};
use crate::program::*;
use crate::schema::{args, flag, free_object, number, reference, text};
use crate::template::{Template, json_value_text, uri_encode_into};

/// The data applications.
pub(crate) const APPS: &[App] = &[
    App::step(
        Family::Data,
        "set",
        "Sets channel variables.",
        |c, acx, at| c.app_set(acx, at).map(Code::Data),
        schema_set,
    )
    .label(set_label),
    App::step(
        Family::Data,
        "setAll",
        "Sets channel variables and exports them to B-legs.",
        |c, acx, at| c.app_set(acx, at).map(Code::Data),
        schema_set,
    )
    .label(set_label),
    App::step(
        Family::Data,
        "setNoLocal",
        "Exports variables to B-legs only.",
        |c, acx, at| c.app_set(acx, at).map(Code::Data),
        schema_set,
    )
    .label(set_label),
    App::step(
        Family::Data,
        "unSet",
        "Unsets channel variables.",
        |c, acx, at| c.app_un_set(acx, at).map(Code::Data),
        schema_un_set,
    ),
    App::step(
        Family::Data,
        "export",
        "Marks variables as exported (call record, B-legs).",
        |c, acx, at| c.app_un_set(acx, at).map(Code::Data),
        schema_un_set,
    ),
    App::step(
        Family::Data,
        "log",
        "Writes a line to the log.",
        |c, acx, at| c.app_log(acx, at).map(Code::Data),
        schema_log,
    ),
    App::step(
        Family::Data,
        "js",
        "Runs a JavaScript function body; its result goes to `setVar`.",
        |c, acx, at| c.app_js(acx, at).map(Code::Data),
        schema_js,
    )
    .label(|args| scalar(args, "setVar")),
    App::step(
        Family::Data,
        "math",
        "A JavaScript Math function (or `random` choice) into `setVar`.",
        |c, acx, at| c.app_math(acx, at).map(Code::Data),
        schema_math,
    )
    .label(|args| scalar(args, "setVar")),
    App::step(
        Family::Data,
        "string",
        "A string function (JavaScript String method and a few more) into `setVar`.",
        |c, acx, at| c.app_string(acx, at).map(Code::Data),
        schema_string,
    )
    .label(|args| scalar(args, "setVar")),
    App::step(
        Family::Data,
        "httpRequest",
        "Blocking HTTP(S) request; response into variables.",
        |c, acx, at| c.app_http_request(acx, at).map(Code::Data),
        schema_http_request,
    )
    .label(|args| format!("{} {}", scalar(args, "method"), scalar(args, "url"))),
    App::step(
        Family::Data,
        "generateLink",
        "Sets a variable to a signed, expiring link to a recording or media file.",
        |c, acx, at| c.app_generate_link(acx, at).map(Code::Data),
        schema_generate_link,
    ),
    App::step(
        Family::Data,
        "calendar",
        "Sets `setVar` to whether a named calendar is open now.",
        |c, acx, at| c.app_calendar(acx, at).map(Code::Data),
        schema_calendar,
    ),
    App::step(
        Family::Data,
        "timezone",
        "Changes the time zone of the date helpers for the rest of the call.",
        |c, acx, at| c.app_timezone(acx, at).map(Code::Data),
        schema_timezone,
    ),
    App::not_yet(Family::Data, "dump"),
    App::not_yet(Family::Data, "list").nested(&["actions"]),
    App::not_yet(Family::Data, "listAdd"),
    App::not_yet(Family::Data, "update"),
    App::not_yet(Family::Data, "start"),
    App::not_yet(Family::Data, "userInfo"),
    App::not_yet(Family::Data, "markIVR"),
];

/// A compiled data step.
#[derive(Debug)]
pub(crate) enum Step {
    Log(Template),
    Set(Vec<(Template, VarValue)>),
    SetExport(Vec<(Template, VarValue)>, ExportScope),
    UnSet(Vec<Template>),
    Export(Vec<Template>),
    GenerateLink(Box<LinkSpec>),
    Calendar {
        id: Option<Template>,
        name: Option<Template>,
        set_var: Template,
        extended: Flag,
    },
    Timezone(Template),
    Http(Box<HttpSpec>),
    Js {
        /// Index into `Flow::scripts`.
        function: usize,
        set_var: Template,
    },
    Math(Box<MathStep>),
    Str(Box<StringStep>),
}

#[derive(Debug)]
pub(crate) struct HttpSpec {
    pub url: Template,
    pub method: Template,
    pub headers: Vec<(Box<str>, Template)>,
    pub body: Option<JsonTemplate>,
    /// `path` parameters: `:name` in the URL is replaced by the URL-encoded value.
    pub path: Vec<(Box<str>, Template)>,
    pub timeout: Option<Num>,
    pub response_code: Option<Template>,
    /// Variable → JSON path into the response body.
    pub export: Vec<(Template, Box<[Box<str>]>)>,
    pub export_cookie: Option<Template>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug)]
pub(crate) struct LinkSpec {
    pub set_var: Template,
    pub server: Option<Template>,
    pub expire_seconds: Num,
    pub source: Template,
    pub file_id: Option<Template>,
    pub file_name: Option<Template>,
    pub query: Vec<(Box<str>, Template)>,
}

#[derive(Debug)]
pub(crate) struct MathStep {
    pub call: crate::expr::apps::MathCall,
    pub args: Vec<Template>,
    pub set_var: Template,
}

#[derive(Debug)]
pub(crate) struct StringStep {
    pub call: crate::expr::apps::StringCall,
    pub data: Template,
    pub args: Vec<Template>,
    pub set_var: Template,
}

impl<'a> Compiler<'a> {
    pub(crate) fn app_log(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        Some(Step::Log(self.text(acx.value, pointer, "log")?))
    }

    pub(crate) fn app_set(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let app = acx.app;
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        if members.is_empty() {
            self.error(
                pointer,
                acx.value.start,
                format!("`{app}` needs at least one variable"),
            );
            return None;
        }
        let mut vars = Vec::with_capacity(members.len());
        for member in members {
            if member.key.is_empty() {
                self.error(
                    &pointer_join(pointer, ""),
                    member.key_start,
                    "empty variable name".to_string(),
                );
                continue;
            }
            vars.push((Template::parse(&member.key), self.var_value(&member.value)));
        }
        Some(match app {
            "set" => Step::Set(vars),
            "setAll" => Step::SetExport(vars, ExportScope::LocalAndBLegs),
            _ => Step::SetExport(vars, ExportScope::BLegsOnly),
        })
    }

    pub(crate) fn app_un_set(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let app = acx.app;
        let names = self.name_list(acx)?;
        Some(if app == "unSet" {
            Step::UnSet(names)
        } else {
            Step::Export(names)
        })
    }

    pub(crate) fn app_calendar(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let id = self.opt_text(members, "id", pointer).ok()?;
        let name = self.opt_text(members, "name", pointer).ok()?;
        if id.is_none() && name.is_none() {
            self.missing(acx, "id` or `name");
            return None;
        }
        let set_var = self.set_var_field(members, pointer, acx)?;
        let extended = self.opt_flag(members, "extended", pointer).ok()?;
        Some(Step::Calendar {
            id,
            name,
            set_var,
            extended,
        })
    }

    pub(crate) fn app_generate_link(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_link(acx)
            .map(|l| Step::GenerateLink(Box::new(l)))
    }

    pub(crate) fn app_timezone(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let value = match acx.value.as_object() {
            Some(members) => match find_ci(members, "name").or_else(|| find_ci(members, "id")) {
                Some(m) => &m.value,
                None => {
                    self.missing(acx, "name");
                    return None;
                }
            },
            None => acx.value,
        };
        let zone = self.text(value, pointer, "timezone")?;
        if let Some(name) = zone.as_literal() {
            if name.parse::<chrono_tz::Tz>().is_err() {
                self.error(
                    pointer,
                    value.start,
                    format!(
                        "unknown time zone `{name}` (expected an IANA name such as `Europe/Kyiv`)"
                    ),
                );
                return None;
            }
        }
        Some(Step::Timezone(zone))
    }

    pub(crate) fn app_http_request(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_http(acx).map(|h| Step::Http(Box::new(h)))
    }

    pub(crate) fn app_js(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_js(acx)
    }

    pub(crate) fn app_math(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_math(acx)
    }

    pub(crate) fn app_string(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_string(acx)
    }

    pub(crate) fn compile_link(&mut self, acx: &AppCx<'_>) -> Option<LinkSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let Some(set_var) = self.opt_text(members, "set", pointer).ok()? else {
            self.missing(acx, "set");
            return None;
        };
        let server = self.opt_text(members, "server", pointer).ok()?;
        let expire_seconds = self.opt_num(members, "expire", pointer, 3600).ok()?;
        let source = self
            .opt_text(members, "source", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("media"));
        if let Some(text) = source.as_literal() {
            if !matches!(text, "media" | "file" | "recording") {
                let m = find_ci(members, "source").expect("source is present");
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    format!("`source` must be `media`, `file` or `recording`, found `{text}`"),
                );
                return None;
            }
        }
        let (file_id, file_name) = match find_ci(members, "file") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                let Some(file) = m.value.as_object() else {
                    self.error(
                        &p,
                        m.value.start,
                        format!(
                            "`file` must be an object {{id, name}}, found {}",
                            m.value.type_name()
                        ),
                    );
                    return None;
                };
                (
                    self.opt_text(file, "id", &p).ok()?,
                    self.opt_text(file, "name", &p).ok()?,
                )
            }
            None => (None, None),
        };
        let query = match find_ci(members, "query") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                let entries = self.object_at(&m.value, &p, "query")?;
                let mut query = Vec::with_capacity(entries.len());
                for e in entries {
                    query.push((
                        e.key.as_str().into(),
                        self.text(&e.value, &pointer_join(&p, &e.key), &e.key)?,
                    ));
                }
                query
            }
            None => Vec::new(),
        };
        Some(LinkSpec {
            set_var,
            server,
            expire_seconds,
            source,
            file_id,
            file_name,
            query,
        })
    }

    pub(crate) fn compile_http(&mut self, acx: &AppCx<'_>) -> Option<HttpSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let url = self.required_text(acx, members, "url");
        let mut args = Args::new(members, pointer);
        let method = match find_ci(members, "method") {
            Some(_) => args.text(self, "method"),
            None => Some(Template::literal("GET")),
        };
        let headers = args.string_map(self, "headers");
        let path = args.string_map(self, "path");
        let exports = args.string_map(self, "exportVariables");
        let export = exports
            .into_iter()
            .map(|(var, path)| {
                let path: Box<[Box<str>]> = path
                    .as_literal()
                    .unwrap_or_default()
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(Into::into)
                    .collect();
                (Template::parse(&var), path)
            })
            .collect();
        let body = find_ci(members, "data").map(|m| self.json_template(&m.value));
        let timeout = self
            .optional(members, "timeout", pointer, |this, v, p| {
                this.num(v, p, "timeout")
            })
            .ok()?;
        let response_code = self.opt_text(members, "responseCode", pointer).ok()?;
        let export_cookie = self.opt_text(members, "exportCookie", pointer).ok()?;
        if let Some(m) = find_ci(members, "cacheCookie") {
            let p = pointer_join(pointer, &m.key);
            if self.const_bool(&m.value, &p) {
                self.error(
                    &p,
                    m.value.start,
                    "`httpRequest.cacheCookie: true` is not supported by rustflow".to_string(),
                );
                args.ok = false;
            }
        }
        // A constant, so that the operator's rule (`http-allow-insecure`) is applied at load.
        let mut insecure_skip_verify = false;
        if let Some(m) = find_ci(members, "insecureSkipVerify") {
            let p = pointer_join(pointer, &m.key);
            insecure_skip_verify = self.const_bool(&m.value, &p);
            if insecure_skip_verify && !self.opts.allow_insecure_skip_verify {
                self.error(
                    &p,
                    m.value.start,
                    "`httpRequest.insecureSkipVerify: true` turns off TLS certificate checks; it is refused unless http-allow-insecure is true in mod_rustflow.conf".to_string(),
                );
                args.ok = false;
            }
        }
        args.ok.then_some(HttpSpec {
            url: url?,
            method: method?,
            headers,
            body,
            path,
            timeout,
            response_code,
            export,
            export_cookie,
            insecure_skip_verify,
        })
    }

    pub(crate) fn set_var_field(
        &mut self,
        members: &[Member],
        pointer: &str,
        acx: &AppCx<'_>,
    ) -> Option<Template> {
        match find_ci(members, "setVar") {
            Some(m) => {
                let t = self.text(&m.value, &pointer_join(pointer, &m.key), "setVar")?;
                if t.as_literal() == Some("") {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        "`setVar` is empty".to_string(),
                    );
                    return None;
                }
                Some(t)
            }
            None => {
                self.missing(acx, "setVar");
                None
            }
        }
    }

    pub(crate) fn compile_js(&mut self, acx: &AppCx<'_>) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let Some(data) = find_ci(members, "data") else {
            self.missing(acx, "data");
            return None;
        };
        let Some(source) = data.value.as_str() else {
            self.error(
                &pointer_join(pointer, &data.key),
                data.value.start,
                format!(
                    "`js.data` must be a string of JavaScript, found {}",
                    data.value.type_name()
                ),
            );
            return None;
        };
        let function = queue_source(
            &mut self.js_sources,
            &mut self.js_index,
            source,
            pointer_join(pointer, &data.key),
            data.value.start,
        );
        Some(Step::Js {
            function,
            set_var: set_var?,
        })
    }

    pub(crate) fn compile_math(&mut self, acx: &AppCx<'_>) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let function = self
            .opt_text(members, "fn", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("random"));
        let Some(name) = function.as_literal() else {
            self.error(
                pointer,
                acx.value.start,
                "`math.fn` must be a constant function name".to_string(),
            );
            return None;
        };
        let call = match crate::expr::apps::MathCall::compile(name) {
            Ok(c) => c,
            Err(message) => {
                self.error(pointer, acx.value.start, message);
                return None;
            }
        };
        let args = self.arg_list(members, "data", pointer)?;
        Some(Step::Math(Box::new(MathStep {
            call,
            args,
            set_var: set_var?,
        })))
    }

    pub(crate) fn compile_string(&mut self, acx: &AppCx<'_>) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let Some(function) = find_ci(members, "fn") else {
            self.missing(acx, "fn");
            return None;
        };
        let function_t = self.text(&function.value, &pointer_join(pointer, &function.key), "fn")?;
        let Some(name) = function_t.as_literal() else {
            self.error(
                pointer,
                acx.value.start,
                "`string.fn` must be a constant function name".to_string(),
            );
            return None;
        };
        let call = match crate::expr::apps::StringCall::compile(name) {
            Ok(c) => c,
            Err(message) => {
                self.error(
                    &pointer_join(pointer, &function.key),
                    function.value.start,
                    message,
                );
                return None;
            }
        };
        let data = self
            .opt_text(members, "data", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal(""));
        let args = self.arg_list(members, "args", pointer)?;
        Some(Step::Str(Box::new(StringStep {
            call,
            data,
            args,
            set_var: set_var?,
        })))
    }

    /// An array of scalar arguments (a single scalar is one argument).
    pub(crate) fn arg_list(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Option<Vec<Template>> {
        let Some(m) = find_ci(members, key) else {
            return Some(Vec::new());
        };
        let p = pointer_join(pointer, &m.key);
        match &m.value.kind {
            Kind::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.text(item, &format!("{p}/{i}"), key)?);
                }
                Some(out)
            }
            _ => Some(vec![self.text(&m.value, &p, key)?]),
        }
    }

    /// `unSet`/`export`: an array of names, or one name as a string.
    pub(crate) fn name_list(&mut self, acx: &AppCx<'_>) -> Option<Vec<Template>> {
        match &acx.value.kind {
            Kind::String(s) if !s.is_empty() => Some(vec![Template::parse(s)]),
            Kind::Array(items) => {
                let mut names = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(name) if !name.is_empty() => names.push(Template::parse(name)),
                        _ => self.error(
                            &format!("{}/{i}", acx.pointer),
                            item.start,
                            format!(
                                "`{}` expects variable names (non-empty strings), found {}",
                                acx.app,
                                item.type_name()
                            ),
                        ),
                    }
                }
                Some(names)
            }
            _ => {
                self.type_error(acx, acx.value, "an array of variable names");
                None
            }
        }
    }
}

impl Machine<'_> {
    #[inline]
    pub(crate) fn run_data(&mut self, flow: &Flow, step: &Step) -> StepResult {
        match step {
            Step::Log(template) => {
                let text = self.expand(template);
                self.host.log(LogLevel::Info, &text);
                Ok(Control::Next.into())
            }
            Step::Set(vars) => {
                for (name, value) in vars {
                    let name = self.expand(name);
                    let value = self.var_value(value);
                    self.host.set_var(&name, &value)?;
                }
                Ok(Control::Next.into())
            }
            Step::SetExport(vars, scope) => {
                for (name, value) in vars {
                    let name = self.expand(name);
                    let value = self.var_value(value);
                    self.host.export_var(&name, &value, *scope)?;
                }
                Ok(Control::Next.into())
            }
            Step::UnSet(names) => {
                for name in names {
                    let name = self.expand(name);
                    self.host.unset_var(&name)?;
                }
                Ok(Control::Next.into())
            }
            Step::Export(names) => {
                for name in names {
                    let name = self.expand(name).into_owned();
                    let value = self.host.var(&name).unwrap_or_default();
                    self.host.set_var(&format!("usr_{name}"), &value)?;
                    if !self.exported.contains(&name) {
                        self.exported.push(name);
                    }
                }
                Ok(Control::Next.into())
            }
            Step::Calendar {
                id,
                name,
                set_var,
                extended,
            } => {
                let query = CalendarQuery {
                    id: self.expand_opt(id),
                    name: self.expand_opt(name),
                };
                let extended = self.flag(extended, "extended")?;
                let status = self.host.calendar(&query)?;
                let value = match (&status, extended) {
                    (CalendarStatus::Open, _) => "true",
                    (CalendarStatus::Expired, true) => "expire",
                    (CalendarStatus::Exception(name), true) => name.as_str(),
                    _ => "false",
                };
                let var = self.expand(set_var);
                self.host.set_var(&var, value)?;
                Ok(Control::Next.noted(if value == "true" { "open" } else { "closed" }))
            }
            Step::GenerateLink(spec) => {
                let url = self.generate_link(spec)?;
                let name = self.expand(&spec.set_var);
                self.host.set_var(&name, &url)?;
                Ok(Control::Next.into())
            }
            Step::Timezone(zone) => {
                let zone = self.expand(zone);
                if zone.parse::<chrono_tz::Tz>().is_err() {
                    return Err(StepError::Failed(format!("unknown time zone `{zone}`")));
                }
                self.timezone = Some(zone.into_owned());
                Ok(Control::Next.into())
            }
            Step::Http(spec) => self.http(spec),
            Step::Js { function, set_var } => {
                let value = flow.scripts[*function]
                    .run(self)
                    .map_err(StepError::Failed)?;
                let name = self.expand(set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
            Step::Math(step) => {
                let args: Vec<String> = step
                    .args
                    .iter()
                    .map(|a| self.expand(a).into_owned())
                    .collect();
                let value = step.call.call(&args, self).map_err(StepError::Failed)?;
                let name = self.expand(&step.set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
            Step::Str(step) => {
                let data = self.expand(&step.data).into_owned();
                let args: Vec<String> = step
                    .args
                    .iter()
                    .map(|a| self.expand(a).into_owned())
                    .collect();
                let value = step
                    .call
                    .call(&data, &args, self)
                    .map_err(StepError::Failed)?;
                let name = self.expand(&step.set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
        }
    }

    pub(crate) fn generate_link(&mut self, spec: &LinkSpec) -> Result<String, StepError> {
        let settings = self.host.link_settings().ok_or_else(|| {
            StepError::Failed(
                "no `link-secret` is configured, so links cannot be signed".to_string(),
            )
        })?;
        let source = self.expand(&spec.source).into_owned();
        let id = self.expand_opt(&spec.file_id);
        let name = self.expand_opt(&spec.file_name);
        // What the link points at: a media file by id or name, else this call's last recording.
        let (area, file) = match (source.as_str(), id, name) {
            ("media", Some(id), _) => ("media", id),
            ("media", None, Some(name)) => ("media", name),
            (_, Some(id), _) | (_, None, Some(id)) if source != "media" => ("recordings", id),
            _ => {
                let last = self.host.var("rustflow_record_file").unwrap_or_default();
                let base = last.rsplit('/').next().unwrap_or("").to_string();
                if base.is_empty() {
                    return Err(StepError::Failed(
                        "no `file` given and this call has no recording to link to".to_string(),
                    ));
                }
                ("recordings", base)
            }
        };
        if file.contains(['/', '\\']) || file.contains("..") {
            return Err(StepError::Failed(format!(
                "`{file}` is not a plain file name"
            )));
        }
        let mut path = format!("/{area}/");
        uri_encode_into(&mut path, &file);
        let seconds = self.number(&spec.expire_seconds, "expire")?;
        let expires = self.host.now_micros().div_euclid(1_000_000)
            + i64::try_from(seconds).unwrap_or(i64::MAX / 4);
        let message = format!("{expires}{path}");
        let signature = match settings.format {
            LinkFormat::HmacSha256 => crate::expr::digest::hex(&hmac_sha256(
                settings.secret.as_bytes(),
                message.as_bytes(),
            )),
            LinkFormat::NginxSecureLink => {
                let digest =
                    crate::expr::digest::md5(format!("{message} {}", settings.secret).as_bytes());
                crate::expr::digest::base64_encode(&digest)
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_")
            }
        };
        let server = match &spec.server {
            Some(t) => self.expand(t).into_owned(),
            None => settings.base_url.clone(),
        };
        let mut url = format!("{}{path}?expires={expires}", server.trim_end_matches('/'));
        for (key, value) in &spec.query {
            let value = self.expand(value);
            url.push('&');
            uri_encode_into(&mut url, key);
            url.push('=');
            uri_encode_into(&mut url, &value);
        }
        url.push_str("&signature=");
        url.push_str(&signature);
        Ok(url)
    }

    pub(crate) fn http(&mut self, spec: &HttpSpec) -> StepResult {
        let mut url = self.expand(&spec.url).into_owned();
        for (name, value) in &spec.path {
            let value = self.expand(value);
            let mut encoded = String::new();
            uri_encode_into(&mut encoded, &value);
            url = url.replace(&format!(":{name}"), &encoded);
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StepError::Failed(format!("url `{url}` is not http(s)")));
        }
        let method = self.expand(&spec.method).trim().to_ascii_uppercase();
        let method = if method.is_empty() {
            "GET".to_string()
        } else {
            method
        };
        let mut headers: Vec<(String, String)> = Vec::with_capacity(spec.headers.len() + 1);
        for (name, value) in &spec.headers {
            let value = self.expand(value).into_owned();
            headers.push((name.to_string(), value));
        }
        let body = match &spec.body {
            None => None,
            Some(JsonTemplate::Text { template, .. }) => Some(self.expand(template).into_owned()),
            Some(json) => {
                let mut text = String::new();
                self.write_json(json, &mut text);
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("Content-Type".to_string(), "application/json".to_string()));
                }
                Some(text)
            }
        };
        let timeout_ms = match &spec.timeout {
            Some(n) => self.number(n, "timeout")?,
            None => 0,
        };
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_ms,
            insecure_skip_verify: spec.insecure_skip_verify,
        };
        let response = self.host.http(&request)?;
        if let Some(var) = &spec.response_code {
            let name = self.expand(var).into_owned();
            if !name.is_empty() {
                self.host.set_var(&name, &response.status.to_string())?;
            }
        }
        if let Some(var) = &spec.export_cookie {
            let name = self.expand(var).into_owned();
            let cookies: Vec<&str> = response
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.split(';').next().unwrap_or("").trim())
                .collect();
            if !name.is_empty() && !cookies.is_empty() {
                self.host.set_var(&name, &cookies.join("; "))?;
            }
        }
        if !spec.export.is_empty() {
            let root: serde_json::Value = serde_json::from_str(&response.body).map_err(|_| {
                StepError::Failed(format!(
                    "response (status {}) is not JSON; cannot export variables",
                    response.status
                ))
            })?;
            for (var, path) in &spec.export {
                let name = self.expand(var).into_owned();
                let mut current = Some(&root);
                for step in path.iter() {
                    current = current.and_then(|v| match v {
                        serde_json::Value::Object(map) => map.get(&**step),
                        serde_json::Value::Array(items) => {
                            step.parse::<usize>().ok().and_then(|i| items.get(i))
                        }
                        _ => None,
                    });
                }
                let value = current.map(json_value_text).unwrap_or_default();
                self.host.set_var(&name, &value)?;
            }
        }
        Ok(Control::Next.into())
    }

    pub(crate) fn write_json(&mut self, json: &JsonTemplate, out: &mut String) {
        match json {
            JsonTemplate::Raw(raw) => out.push_str(raw),
            JsonTemplate::Text { template, splice } => {
                let text = self.expand(template);
                let trimmed = text.trim_start();
                if *splice
                    && (trimmed.starts_with('{') || trimmed.starts_with('['))
                    && serde_json::from_str::<serde_json::Value>(&text).is_ok()
                {
                    out.push_str(&text);
                } else {
                    crate::json::write_json_string(out, &text);
                }
            }
            JsonTemplate::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_json(item, out);
                }
                out.push(']');
            }
            JsonTemplate::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    crate::json::write_json_string(out, key);
                    out.push(':');
                    self.write_json(value, out);
                }
                out.push('}');
            }
        }
    }
}

/// HMAC-SHA256 (RFC 2104), from RustCrypto.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

// ---- argument schemas ----

fn schema_generate_link() -> Json {
    args(
        &[
            ("set", text("Variable that receives the URL.")),
            ("server", text("Base URL.")),
            ("expire", number("Lifetime in seconds.")),
            ("source", text("`media` (default) or `file`.")),
            (
                "file",
                args(
                    &[("id", reference("scalar")), ("name", text("File name."))],
                    &[],
                ),
            ),
            ("query", free_object("Extra query parameters.")),
        ],
        &["set"],
    )
}

fn schema_set() -> Json {
    json!({
        "type": "object",
        "minProperties": 1,
        "description": "Variable names to values (strings expanded; numbers, booleans and JSON written verbatim).",
        "additionalProperties": true
    })
}

fn schema_un_set() -> Json {
    json!({
        "description": "Variable names.",
        "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
    })
}

fn schema_log() -> Json {
    json!({ "description": "Text written to the log (expanded).", "type": ["string", "number", "boolean"] })
}

fn schema_js() -> Json {
    args(
        &[
            (
                "data",
                text("JavaScript function body; `return` gives the result."),
            ),
            ("setVar", text("Variable that receives the result.")),
        ],
        &["data"],
    )
}

fn schema_math() -> Json {
    args(
        &[
            (
                "fn",
                text("`random` (a random element of `data`) or a JavaScript Math function."),
            ),
            ("data", json!({ "description": "Argument(s)." })),
            ("setVar", text("Variable that receives the result.")),
        ],
        &["fn"],
    )
}

fn schema_string() -> Json {
    args(
        &[
            (
                "fn",
                text(
                    "String function: reverse, charAt, base64, MD5, SHA-256, SHA-512, length, or a JavaScript String method.",
                ),
            ),
            ("data", text("The string (expanded).")),
            (
                "args",
                json!({ "type": "array", "description": "Arguments of the function." }),
            ),
            ("setVar", text("Variable that receives the result.")),
        ],
        &["fn"],
    )
}

fn schema_http_request() -> Json {
    args(
        &[
            ("url", text("URL (http or https).")),
            ("method", text("HTTP method (default GET).")),
            ("headers", free_object("Request headers.")),
            (
                "data",
                json!({ "description": "Request body: text, or an object sent as JSON." }),
            ),
            (
                "path",
                free_object("Values for `${…}` placeholders in the URL path."),
            ),
            (
                "timeout",
                number("Timeout in milliseconds (bounded by http-timeout-ms)."),
            ),
            ("parser", text("Response parser, e.g. `application/json`.")),
            (
                "responseCode",
                text("Variable that receives the status code."),
            ),
            (
                "exportVariables",
                free_object("Variable name to JSON path in the response."),
            ),
            (
                "exportCookie",
                text("Variable that receives the Set-Cookie value."),
            ),
            ("cacheCookie", flag("Cache cookies.")),
            ("insecureSkipVerify", flag("Skip TLS verification.")),
        ],
        &["url"],
    )
}

fn schema_calendar() -> Json {
    args(
        &[
            ("id", reference("scalar")),
            ("name", text("Calendar name.")),
            (
                "setVar",
                text("Variable that receives `true`/`false` (or the exception)."),
            ),
            (
                "extended",
                flag("Report `expire` or the exception name when closed."),
            ),
        ],
        &[],
    )
}

fn schema_timezone() -> Json {
    json!({
        "description": "An IANA time zone name (`Europe/Kyiv`), as a string or `{\"name\": …}` / `{\"id\": …}`.",
        "anyOf": [
            { "type": "string" },
            args(&[("name", text("IANA time zone name.")), ("id", reference("scalar"))], &[])
        ]
    })
}

/// `set` in a graph node: the names of the variables it sets.
fn set_label(args: &Json) -> String {
    args.as_object()
        .map(|map| map.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn hmac_sha256_rfc4231_vectors() {
        // RFC 4231 test case 2 and 6 (key longer than a block).
        assert_eq!(
            crate::expr::digest::hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            crate::expr::digest::hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
