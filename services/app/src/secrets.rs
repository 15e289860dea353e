//! Database passwords stay out of logs, error messages and process arguments
//! (which every local user can read in `/proc/*/cmdline`).

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match split_password(url) {
        (bare, Some(_)) => match user_end(&bare) {
            Some(end) => format!("{}:***{}", &bare[..end], &bare[end..]),
            None => bare,
        },
        (bare, None) => bare,
    }
}

/// `(url without its password, the password percent-decoded)`. A client tool
/// gets the first as its connection string and the second through the
/// environment, so the password never appears on a command line.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &rest[..at];
    let Some(colon) = userinfo.find(':') else {
        return (url.to_string(), None);
    };
    let password = percent_decode(&userinfo[colon + 1..]);
    let bare = format!(
        "{}{}{}",
        &url[..scheme_end],
        &userinfo[..colon],
        &rest[at..]
    );
    (bare, Some(password))
}

/// Where the user name ends (the '@') in a URL without a password.
fn user_end(url: &str) -> Option<usize> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(scheme_end + rest[..authority_end].rfind('@')?)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PostgreSQL client tool (`pg_dump`, `pg_restore`) aimed at `url`: the
/// connection string without the password as `--dbname`, the password in
/// `PGPASSWORD`, which libpq reads when the string has none.
pub fn postgres_command(program: impl AsRef<std::ffi::OsStr>, url: &str) -> std::process::Command {
    let (bare, password) = split_password(url);
    let mut command = std::process::Command::new(program);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.arg("--dbname").arg(bare);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_split_off_and_redacted() {
        let url = "postgres://folio:p%40ss%3Aw0rd@db.internal:5432/folio?sslmode=require";
        let (bare, password) = split_password(url);
        assert_eq!(
            bare,
            "postgres://folio@db.internal:5432/folio?sslmode=require"
        );
        assert_eq!(password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(
            redacted_url(url),
            "postgres://folio:***@db.internal:5432/folio?sslmode=require"
        );
        for plain in [
            "postgres://folio@db/folio",
            "postgres://db/folio",
            "sqlite:///var/lib/folio/folio.db?mode=rwc",
        ] {
            assert_eq!(split_password(plain), (plain.to_string(), None));
            assert_eq!(redacted_url(plain), plain);
        }
    }

    #[test]
    fn postgres_tools_get_the_password_through_the_environment_only() {
        let command = postgres_command("pg_dump", "postgres://folio:s3cret@db:5432/folio");
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["--dbname", "postgres://folio@db:5432/folio"]);
        assert!(args.iter().all(|a| !a.contains("s3cret")));
        let password = command
            .get_envs()
            .find(|(k, _)| *k == "PGPASSWORD")
            .and_then(|(_, v)| v);
        assert_eq!(password, Some(std::ffi::OsStr::new("s3cret")));
    }
}
