//! The grammar of paths and commands, checked at compile time.

/// A module path: `/`, or `/` followed by segments of `[A-Za-z0-9_.~-]`, no empty segment,
/// no trailing `/`.
pub(crate) fn path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!(
            "module path must start with `/`: write `\"/{}\"`",
            p.trim_start_matches('/')
        ));
    }
    if p == "/" {
        return Ok(());
    }
    let normal: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    let normal = format!("/{}", normal.join("/"));
    if p.ends_with('/') || p.contains("//") {
        return Err(format!(
            "module path has an empty segment: write `\"{normal}\"`"
        ));
    }
    if let Some(c) = p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | '~')))
    {
        return Err(format!(
            "module path may only hold letters, digits and `_ - . ~` between slashes; `{c}` is not allowed"
        ));
    }
    Ok(())
}

/// One name: a command prefix or a segment of a command.
fn segment(s: &str, what: &str, whole: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("invalid {what} `{whole}`: empty segment"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "invalid {what} `{whole}`: `{c}` is not allowed (use letters, digits, `_` and `-`)"
        ));
    }
    Ok(())
}

/// A controller prefix: one segment.
pub(crate) fn prefix(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err(
            "empty prefix: for commands without a prefix leave it out (`#[ws_controller]`)"
                .to_owned(),
        );
    }
    if p.contains('.') {
        return Err(format!(
            "invalid prefix `{p}`: a prefix is one name without `.` (the command is `prefix.action`)"
        ));
    }
    segment(p, "prefix", p)
}

/// An action (`join`) or a full command (`room.join`).
pub(crate) fn command(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("invalid command ``: empty; write an action like `\"join\"` or a full command like `\"room.join\"`".to_owned());
    }
    if c.split('.').any(str::is_empty) {
        let parts: Vec<&str> = c.split('.').filter(|s| !s.is_empty()).collect();
        return Err(format!(
            "invalid command `{c}`: empty segment; write `\"{}\"`",
            parts.join(".")
        ));
    }
    c.split('.').try_for_each(|s| segment(s, "command", c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(path("/").is_ok());
        assert!(path("/chat").is_ok());
        assert!(path("/a/b-c_d.e").is_ok());
        assert!(path("chat").unwrap_err().contains("\"/chat\""));
        assert!(path("/a//b").unwrap_err().contains("\"/a/b\""));
        assert!(path("/a/").is_err());
        assert!(path("/a/{id}").is_err());
    }

    #[test]
    fn commands() {
        assert!(command("join").is_ok());
        assert!(command("room.join").is_ok());
        assert!(command("room..join").unwrap_err().contains("empty segment"));
        assert!(command("").is_err());
        assert!(command("a b").is_err());
        assert!(prefix("room").is_ok());
        assert!(prefix("a.b").is_err());
        assert!(prefix("").unwrap_err().contains("leave it out"));
        assert!(command(".join").unwrap_err().contains("`\"join\"`"));
    }
}
