//! A small command-line parser: options may come before or after positional arguments,
//! `--name value` and `--name=value` are both accepted, `--` ends the options.

/// A usage error: printed with the subcommand's usage, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

/// One parsed argument.
#[derive(Debug, PartialEq, Eq)]
pub enum Arg {
    /// `--name` with its value when the option takes one.
    Option {
        name: String,
        value: Option<String>,
    },
    Positional(String),
}

/// Splits `args` into options and positionals. `with_value` lists the options that take a
/// value; `flags` those that do not. Anything else starting with `-` is a usage error.
pub fn parse(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Vec<Arg>, UsageError> {
    let mut parsed = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            parsed.extend(rest.by_ref().map(|a| Arg::Positional(a.clone())));
            break;
        }
        let Some(option) = arg.strip_prefix("--").filter(|_| arg.len() > 2) else {
            if arg.starts_with('-') && arg.len() > 1 && arg != "-h" {
                return Err(UsageError(format!("unknown option `{arg}`")));
            }
            if arg == "-h" {
                parsed.push(Arg::Option {
                    name: "help".into(),
                    value: None,
                });
            } else {
                parsed.push(Arg::Positional(arg.clone()));
            }
            continue;
        };
        let (name, inline) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (option, None),
        };
        if with_value.contains(&name) {
            let value = match inline {
                Some(value) => value,
                None => rest
                    .next()
                    .cloned()
                    .ok_or_else(|| UsageError(format!("option `--{name}` needs a value")))?,
            };
            parsed.push(Arg::Option {
                name: name.into(),
                value: Some(value),
            });
        } else if flags.contains(&name) || name == "help" {
            if inline.is_some() {
                return Err(UsageError(format!("option `--{name}` takes no value")));
            }
            parsed.push(Arg::Option {
                name: name.into(),
                value: None,
            });
        } else {
            return Err(UsageError(format!("unknown option `--{name}`")));
        }
    }
    Ok(parsed)
}

/// Whether `--help`/`-h` was given.
pub fn wants_help(args: &[Arg]) -> bool {
    args.iter()
        .any(|arg| matches!(arg, Arg::Option { name, .. } if name == "help"))
}

/// The positional arguments, in order.
pub fn positionals(args: &[Arg]) -> Vec<&str> {
    args.iter()
        .filter_map(|arg| match arg {
            Arg::Positional(value) => Some(value.as_str()),
            Arg::Option { .. } => None,
        })
        .collect()
}

/// Exactly one positional argument, named `what` in the error.
pub fn single_positional<'a>(args: &'a [Arg], what: &str) -> Result<&'a str, UsageError> {
    match positionals(args).as_slice() {
        [one] => Ok(one),
        [] => Err(UsageError(format!("missing {what}"))),
        [_, extra, ..] => Err(UsageError(format!("unexpected argument `{extra}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_with_and_without_values() {
        let args = parse(
            &strings(&["f.json", "--dtmf", "2", "--json", "--var=a=b"]),
            &["dtmf", "var"],
            &["json"],
        )
        .unwrap();
        assert_eq!(
            args,
            vec![
                Arg::Positional("f.json".into()),
                Arg::Option {
                    name: "dtmf".into(),
                    value: Some("2".into())
                },
                Arg::Option {
                    name: "json".into(),
                    value: None
                },
                Arg::Option {
                    name: "var".into(),
                    value: Some("a=b".into())
                },
            ]
        );
    }

    #[test]
    fn usage_errors_name_the_option() {
        let err = parse(&strings(&["--nope"]), &[], &[]).unwrap_err();
        assert_eq!(err.0, "unknown option `--nope`");
        let err = parse(&strings(&["--dtmf"]), &["dtmf"], &[]).unwrap_err();
        assert_eq!(err.0, "option `--dtmf` needs a value");
        let err = parse(&strings(&["--json=1"]), &[], &["json"]).unwrap_err();
        assert_eq!(err.0, "option `--json` takes no value");
    }

    #[test]
    fn double_dash_ends_options() {
        let args = parse(&strings(&["--", "--json"]), &[], &["json"]).unwrap();
        assert_eq!(positionals(&args), vec!["--json"]);
    }
}
