//! PostgreSQL URLs: recognising them, and showing them without their password.

/// Whether `source` is a PostgreSQL URL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(source: &str) -> bool {
    source.starts_with("postgres://") || source.starts_with("postgresql://")
}

/// `url` with its password (in the user part, or a `password=` parameter) shown as `***`,
/// for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user_info, host) = authority.split_at(at);
            match user_info.split_once(':') {
                Some((user, _password)) => format!("{user}:***{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_wherever_they_are() {
        assert_eq!(
            redact("postgres://cc:s3cret@db:5432/cc?sslmode=disable"),
            "postgres://cc:***@db:5432/cc?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://cc:p@ss@db/cc"),
            "postgresql://cc:***@db/cc",
            "an unescaped @ in the password"
        );
        assert_eq!(
            redact("postgres://cc@db/cc?password=s3cret&connect_timeout=5"),
            "postgres://cc@db/cc?password=***&connect_timeout=5"
        );
        assert_eq!(redact("postgres://db/cc"), "postgres://db/cc");
        assert_eq!(redact("postgres://cc:x@db"), "postgres://cc:***@db");
    }

    #[test]
    fn postgres_urls_are_recognised() {
        assert!(is_postgres_url("postgres://db/cc"));
        assert!(is_postgres_url("postgresql://db/cc"));
        assert!(!is_postgres_url("/etc/freeswitch/flows"));
        assert!(!is_postgres_url("dir"));
    }
}
