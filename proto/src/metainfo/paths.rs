//! Name and path validation: every component of a torrent's name and file
//! paths is checked here before it reaches a [`FileEntry`](super::FileEntry),
//! so joining a path to the data directory can never escape it (no `..`,
//! `.`, empty or absolute components, no separators or NUL inside one,
//! UTF-8 only).

use super::MetainfoError;

/// Lossy display form of a path for error messages.
fn display_path(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// Validates one path component (UTF-8 already checked). `whole` is the full
/// path for the error message.
fn check_component(c: &str, whole: &dyn Fn() -> String) -> Result<(), MetainfoError> {
    let reason = if c.is_empty() {
        Some("empty component")
    } else if c == "." {
        Some("`.` component")
    } else if c == ".." {
        Some("`..` component")
    } else if c.contains('\0') {
        Some("NUL byte")
    } else if c.starts_with('/') || c.starts_with('\\') || is_drive_prefix(c) {
        Some("absolute path")
    } else if c.contains('/') || c.contains('\\') {
        Some("path separator inside a component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MetainfoError::UnsafePath {
            path: whole(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `C:` style Windows drive prefix.
fn is_drive_prefix(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Picks `preferred` (a `.utf-8` variant) when present and valid UTF-8, else
/// `fallback`, and checks that every component is UTF-8 and safe.
/// `prefix` (the torrent name) only appears in error messages.
pub(super) fn choose_path(
    prefix: Option<&str>,
    preferred: Option<&[&[u8]]>,
    fallback: Option<&[&[u8]]>,
) -> Result<Vec<String>, MetainfoError> {
    let preferred = preferred.filter(|p| p.iter().all(|c| std::str::from_utf8(c).is_ok()));
    let parts = preferred.or(fallback).unwrap_or(&[]);
    let whole = || {
        let rest = display_path(parts);
        match prefix {
            Some(n) => format!("{n}/{rest}"),
            None => rest,
        }
    };
    if parts.is_empty() {
        return Err(MetainfoError::UnsafePath {
            path: whole(),
            reason: "empty component",
        });
    }
    let mut out = Vec::with_capacity(parts.len());
    for c in parts {
        let s = std::str::from_utf8(c).map_err(|_| MetainfoError::UnsafePath {
            path: whole(),
            reason: "not UTF-8",
        })?;
        check_component(s, &whole)?;
        out.push(s.to_owned());
    }
    Ok(out)
}
