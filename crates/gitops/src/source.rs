//! Reading one GitOps file: environment expansion, YAML parsing, and errors
//! that name the file, the line and (for a misspelt key) the nearest valid key.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Looks up an environment variable; a parameter so tests don't touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A file read and expanded, ready to parse.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// The file as messages name it.
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }

    /// The folder its `path:` entries are relative to.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The line (1-based) where `key:` first appears as a mapping key.
    pub fn key_line(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|line| {
                let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
                trimmed
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            .map(|i| i + 1)
    }

    /// `file:line: message`, or `file: message` when the key isn't found.
    pub fn at_key(&self, key: &str, message: &str) -> String {
        match self.key_line(key) {
            Some(line) => format!("{}:{line}: {message}", self.display()),
            None => format!("{}: {message}", self.display()),
        }
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_norway::from_str(&self.text).map_err(|e| describe_yaml_error(self, &e))
    }
}

/// Reads a GitOps YAML file and expands `$VAR` / `${VAR}`.
pub fn read_yaml(path: &Path, env: Env<'_>) -> Result<SourceFile, String> {
    let text = read_text(path)?;
    let text = expand_env(&text, env).map_err(|(line, name)| {
        format!(
            "{}:{line}: environment variable ${name} is not set",
            path.display()
        )
    })?;
    Ok(SourceFile {
        path: path.to_path_buf(),
        text,
    })
}

pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: can't read: {e}", path.display()))
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: can't read: {e}", path.display()))
}

/// Variables Fleet's server fills in when it delivers a profile, left as they are.
const SERVER_VARIABLE_PREFIX: &str = "FLEET_VAR_";

/// Replaces `$NAME` and `${NAME}` with the environment's values; `\$` stays a
/// literal `$`; comment lines are left alone. An unset variable is an error
/// naming its line (1-based) and name.
pub fn expand_env(text: &str, env: Env<'_>) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            let (before, from_dollar) = rest.split_at(at);
            if let Some(escaped) = before.strip_suffix('\\') {
                out.push_str(escaped);
                out.push('$');
                rest = &from_dollar[1..];
                continue;
            }
            out.push_str(before);
            let after = &from_dollar[1..];
            let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            let is_name = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !is_name || name.starts_with(SERVER_VARIABLE_PREFIX) {
                out.push('$');
                rest = after;
                continue;
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => return Err((index + 1, name.to_string())),
            }
            rest = &after[consumed..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn describe_yaml_error(file: &SourceFile, err: &serde_norway::Error) -> String {
    let full = err.to_string();
    // The library appends " at line L column C"; the prefix says it better.
    let message = match full.rfind(" at line ") {
        Some(at) => &full[..at],
        None => full.as_str(),
    };
    let message = reword_unknown_field(message).unwrap_or_else(|| message.to_string());
    match err.location() {
        Some(location) => format!(
            "{}:{}:{}: {message}",
            file.display(),
            location.line(),
            location.column()
        ),
        None => format!("{}: {message}", file.display()),
    }
}

/// "unknown field `x`, expected one of `a`, `b`" → "unknown key `x`; did you mean `a`?"
fn reword_unknown_field(message: &str) -> Option<String> {
    let at = message.find("unknown field `")?;
    let (context, rest) = message.split_at(at);
    let rest = &rest["unknown field `".len()..];
    let key = &rest[..rest.find('`')?];
    let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
    let nearest = expected
        .iter()
        .map(|candidate| (strsim::levenshtein(key, candidate), *candidate))
        .min();
    let location = context.trim_end_matches(": ").trim();
    let within = if location.is_empty() {
        String::new()
    } else {
        format!(" in {location}")
    };
    Some(match nearest {
        Some((distance, candidate)) if distance <= key.len().max(3) / 2 + 1 => {
            format!("unknown key `{key}`{within}; did you mean `{candidate}`?")
        }
        _ => format!(
            "unknown key `{key}`{within}; valid keys here: {}",
            expected.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: String) -> SourceFile {
        SourceFile {
            path: "default.yml".into(),
            text,
        }
    }

    #[test]
    fn deep_nesting_and_alias_bombs_are_refused_not_followed() {
        let deep = file(format!("a: {}{}", "[".repeat(5_000), "]".repeat(5_000)));
        assert!(deep.parse::<serde_norway::Value>().is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for n in 1..8 {
            bomb.push_str(&format!(
                "{}: &{} [",
                (b'a' + n) as char,
                (b'a' + n) as char
            ));
            let prev = (b'a' + n - 1) as char;
            bomb.push_str(&vec![format!("*{prev}"); 10].join(", "));
            bomb.push_str("]\n");
        }
        assert!(file(bomb).parse::<serde_norway::Value>().is_err());
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "TEAM" => Some("Engineering".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_both_spellings_and_keeps_escapes_comments_and_server_variables() {
        let text = "name: $TEAM\nb: ${TEAM}-x\nc: \\$TEAM\n# $UNSET in a comment\nd: $FLEET_VAR_HOST_UUID\ne: ${EMPTY}|\nf: 5$\n";
        let expanded = expand_env(text, &env).unwrap();
        assert_eq!(
            expanded,
            "name: Engineering\nb: Engineering-x\nc: $TEAM\n# $UNSET in a comment\nd: $FLEET_VAR_HOST_UUID\ne: |\nf: 5$\n"
        );
    }

    #[test]
    fn an_unset_variable_names_its_line() {
        assert_eq!(
            expand_env("a: 1\nb: ${MISSING}\n", &env),
            Err((2, "MISSING".to_string()))
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Policy {
        name: String,
        conditional_access_enabled: Option<bool>,
        critical: Option<bool>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        policies: Vec<Policy>,
    }

    #[test]
    fn an_unknown_key_names_file_line_and_nearest_key() {
        let file = SourceFile {
            path: "teams/a.yml".into(),
            text: "policies:\n- name: x\n  conditional_acess_enabled: true\n".into(),
        };
        let err = file.parse::<File>().unwrap_err();
        assert!(err.starts_with("teams/a.yml:3:"), "{err}");
        assert!(
            err.contains("unknown key `conditional_acess_enabled`"),
            "{err}"
        );
        assert!(
            err.contains("did you mean `conditional_access_enabled`?"),
            "{err}"
        );
    }

    #[test]
    fn a_far_off_key_lists_the_valid_ones() {
        let file = SourceFile {
            path: "a.yml".into(),
            text: "policies:\n- name: x\n  zzzzzzzzzzzzzz: 1\n".into(),
        };
        let err = file.parse::<File>().unwrap_err();
        assert!(
            err.contains("valid keys here: name, conditional_access_enabled, critical"),
            "{err}"
        );
    }

    #[test]
    fn key_lines_are_found() {
        let file = SourceFile {
            path: "a.yml".into(),
            text: "name: x\ncontrols:\n  scripts:\n    - path: a.sh\n".into(),
        };
        assert_eq!(file.key_line("scripts"), Some(3));
        assert_eq!(file.key_line("path"), Some(4));
        assert_eq!(file.key_line("missing"), None);
    }
}
