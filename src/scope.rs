//! Which part of a name is scored (`--scope`) and which names are not scored at all (`--allow`).

use std::collections::HashSet;

/// What part of a name the model judges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// The whole name, as models are trained (the default).
    #[default]
    Fqdn,
    /// The registrable domain: the longest suffix in the ICANN section of the Public Suffix
    /// List plus one label. Private-section suffixes (`cloudfront.net`, `github.io`, ...) are
    /// owned by one company, so `d3ag4hukkh62yn.cloudfront.net` is judged as `cloudfront.net`.
    /// Names under a suffix the list does not know (such as `.bazar`) are scored whole.
    Registrable,
}

impl Scope {
    /// The part of `name` (normalised) that is scored.
    pub fn apply(self, name: &str) -> &str {
        match self {
            Scope::Fqdn => name,
            Scope::Registrable => registrable(name),
        }
    }
}

/// Byte offsets where each dot-separated suffix of `name` starts, longest first.
fn suffix_starts(name: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(name.match_indices('.').map(|(i, _)| i + 1))
}

/// The registrable domain of `name` under the ICANN section of the Public Suffix List.
pub fn registrable(name: &str) -> &str {
    let starts: Vec<usize> = suffix_starts(name).collect();
    let icann = starts.iter().position(|&start| {
        let candidate = &name[start..];
        psl::suffix(candidate.as_bytes()).is_some_and(|s| {
            s.typ() == Some(psl::Type::Icann) && s.as_bytes().len() == candidate.len()
        })
    });
    match icann {
        // One label more than the suffix, when there is one.
        Some(k) if k > 0 => &name[starts[k - 1]..],
        _ => name,
    }
}

/// Suffixes never scored: a name equal to or under one of them is reported as allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    suffixes: HashSet<String>,
}

impl AllowList {
    /// Reads one suffix per line (`#` comments and blank lines ignored, a leading `*.` or `.`
    /// dropped). Returns the list and the lines that are not host names, with line numbers.
    pub fn parse(text: &str) -> (AllowList, Vec<(usize, String)>) {
        let mut suffixes = HashSet::new();
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            match crate::data::normalize_name(entry) {
                Ok(suffix) => {
                    suffixes.insert(suffix);
                }
                Err(e) => bad.push((i + 1, format!("{e}: {entry:?}"))),
            }
        }
        (AllowList { suffixes }, bad)
    }

    pub fn len(&self) -> usize {
        self.suffixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.suffixes.is_empty()
    }

    /// Whether `name` (normalised) is an allowed suffix or lies under one.
    pub fn allows(&self, name: &str) -> bool {
        suffix_starts(name).any(|start| self.suffixes.contains(&name[start..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_under_icann_suffixes() {
        assert_eq!(registrable("www.example.com"), "example.com");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("com"), "com");
        assert_eq!(
            registrable("d3ag4hukkh62yn.cloudfront.net"),
            "cloudfront.net"
        );
        assert_eq!(registrable("user.github.io"), "github.io");
        // A suffix the list does not know: score the whole name.
        assert_eq!(registrable("qwxzyk.bazar"), "qwxzyk.bazar");
        assert_eq!(Scope::Fqdn.apply("www.example.com"), "www.example.com");
    }

    #[test]
    fn allow_lists_match_suffixes_on_label_boundaries() {
        let (list, bad) =
            AllowList::parse("# CDNs\ncloudfront.net\n*.akamaiedge.net\n\nnot a name!\n");
        assert_eq!(list.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 5);
        assert!(list.allows("d3ag4hukkh62yn.cloudfront.net"));
        assert!(list.allows("cloudfront.net"));
        assert!(list.allows("e123.a.akamaiedge.net"));
        assert!(!list.allows("evilcloudfront.net"));
        assert!(!list.allows("net"));
    }
}
