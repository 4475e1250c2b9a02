//! The modules' paths: their variables' constraints, and no request path served by two
//! modules (Swoft's `@WsModule("/rooms/{id}", params={"id": "\d+"})`, routed by axum's
//! router).

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;

use crate::app::registry::error::Problem;
use crate::app::registry::records::ModuleDef;

/// The path with its leading `/`: Swoft reads `"echo"` as `/echo`. The macro writes it so; a
/// record written by hand may not.
pub(crate) fn normal(path: &'static str) -> Cow<'static, str> {
    if path.starts_with('/') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!("/{path}"))
    }
}

/// A variable segment's name (`{id}` → `id`).
fn var(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// Each variable's constraint, anchored to the whole value (`^(?:\d+)$`); an error names the
/// problem.
pub(crate) fn constraints(m: &ModuleDef) -> Result<Vec<(&'static str, Regex)>, String> {
    let path = normal(m.path);
    m.params
        .iter()
        .map(|&(name, re)| {
            if !path.split('/').filter_map(var).any(|v| v == name) {
                return Err(format!("`{name}` in params is not a variable of the path"));
            }
            Regex::new(&format!("^(?:{re})$"))
                .map(|r| (name, r))
                .map_err(|e| format!("the constraint of `{name}` is not a valid regex: {e}"))
        })
        .collect()
}

/// Two modules on one path, constraints that do not compile, and two paths a request could
/// match both of (or that axum's router cannot hold together: differently named variables at
/// one place).
pub(super) fn problems(sorted: &[&'static ModuleDef], problems: &mut Vec<Problem>) {
    let mut by_path: HashMap<Cow<'static, str>, &ModuleDef> = HashMap::new();
    let mut checked: Vec<(&ModuleDef, Vec<(&'static str, Regex)>)> = Vec::new();
    for m in sorted {
        let path = normal(m.path);
        if let Some(first) = by_path.insert(path.clone(), m) {
            problems.push(Problem::DuplicatePath {
                path: path.into_owned(),
                first: first.name.into(),
                first_at: first.location,
                second: m.name.into(),
                second_at: m.location,
            });
            continue;
        }
        match constraints(m) {
            Ok(c) => checked.push((m, c)),
            Err(reason) => problems.push(Problem::InvalidPath {
                module: m.name.into(),
                path: m.path.into(),
                reason,
                at: m.location,
            }),
        }
    }
    for (i, (a, ca)) in checked.iter().enumerate() {
        for (b, cb) in &checked[i + 1..] {
            if overlap((&normal(a.path), ca), (&normal(b.path), cb)) {
                problems.push(Problem::OverlappingPaths {
                    first: a.name.into(),
                    first_path: a.path.into(),
                    first_at: a.location,
                    second: b.name.into(),
                    second_path: b.path.into(),
                    second_at: b.location,
                });
            }
        }
    }
}

type Pattern<'a> = (&'a str, &'a [(&'static str, Regex)]);

/// Whether a request path could match both patterns, or the router could not hold both.
fn overlap(a: Pattern<'_>, b: Pattern<'_>) -> bool {
    let accepts = |c: &[(&str, Regex)], name: &str, value: &str| {
        c.iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, r)| r.is_match(value))
    };
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.0.split('/').collect(), b.0.split('/').collect());
    let mut same_so_far = true;
    let mut all_match = sa.len() == sb.len();
    for (x, y) in sa.iter().zip(&sb) {
        let compatible = match (var(x), var(y)) {
            (None, None) => x == y,
            (Some(v), None) => accepts(a.1, v, y),
            (None, Some(v)) => accepts(b.1, v, x),
            (Some(v), Some(w)) => {
                // matchit (axum's router) keeps one name per place after the same segments.
                if same_so_far && v != w {
                    return true;
                }
                true
            }
        };
        same_so_far &= x == y;
        all_match &= compatible;
    }
    all_match
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(name: &'static str, r: &str) -> (&'static str, Regex) {
        (name, Regex::new(&format!("^(?:{r})$")).unwrap())
    }

    #[test]
    fn patterns_overlap_when_one_request_path_could_match_both() {
        let digits = [re("id", r"\d+")];
        assert!(overlap(("/rooms/{id}", &[]), ("/rooms/new", &[])));
        assert!(!overlap(("/rooms/{id}", &digits), ("/rooms/new", &[])));
        assert!(overlap(("/rooms/{id}", &digits), ("/rooms/42", &[])));
        assert!(!overlap(("/rooms/{id}", &[]), ("/rooms/{id}/chat", &[])));
        assert!(!overlap(("/rooms/{id}", &[]), ("/users/{id}", &[])));
        assert!(overlap(("/a/{x}/b", &[]), ("/a/{y}/c", &[])));
        assert!(!overlap(("/a/{x}/b", &[]), ("/a/{x}/c", &[])));
    }
}
