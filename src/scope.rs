//! Which part of a name is scored (`--scope`) and which names are not scored at all (`--allow`;
//! names that cannot be public are `public_name`'s).

use std::collections::HashSet;

/// What part of a name the model judges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// The whole name.
    Fqdn,
    /// The registrable domain (the default): the longest suffix in the Public Suffix List,
    /// ICANN or private section, plus one label. The models were trained on registrable
    /// names, so `www.xjwqkdpqoe.net` and any prefix before it are judged as
    /// `xjwqkdpqoe.net`. The private section counts because dynamic-DNS providers
    /// (`dyndns.org`, `ddns.net`, `duckdns.org`) are where some DGAs live: under the ICANN
    /// section alone their names would all be judged as `dyndns.org` (BENCHMARKS.md, "Scope
    /// and non-public names", has the measurements). Names under a suffix the list does not
    /// know (such as `.bazar`) are scored whole.
    #[default]
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

/// The registrable domain of `name` under the Public Suffix List, both sections.
pub fn registrable(name: &str) -> &str {
    registrable_under(name, true)
}

/// The registrable domain of `name` under the ICANN section of the Public Suffix List, and
/// with `private` also under its private section (`cloudfront.net`, `duckdns.org`, ...).
pub fn registrable_under(name: &str, private: bool) -> &str {
    let starts: Vec<usize> = suffix_starts(name).collect();
    let listed = starts.iter().position(|&start| {
        let candidate = &name[start..];
        psl::suffix(candidate.as_bytes()).is_some_and(|s| {
            let section_counts = match s.typ() {
                Some(psl::Type::Icann) => true,
                Some(psl::Type::Private) => private,
                None => false,
            };
            section_counts && s.as_bytes().len() == candidate.len()
        })
    });
    match listed {
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
        // The private section counts: a dynamic-DNS or CDN host keeps its own label.
        assert_eq!(
            registrable("d3ag4hukkh62yn.cloudfront.net"),
            "d3ag4hukkh62yn.cloudfront.net"
        );
        assert_eq!(registrable("www.kjhqwe.dyndns.org"), "kjhqwe.dyndns.org");
        assert_eq!(registrable("user.github.io"), "user.github.io");
        // The ICANN section alone: the provider's own domain.
        assert_eq!(
            registrable_under("d3ag4hukkh62yn.cloudfront.net", false),
            "cloudfront.net"
        );
        assert_eq!(registrable_under("kjhqwe.dyndns.org", false), "dyndns.org");
        // The prefix evasion: a long prefix before a random name does not hide it.
        assert_eq!(
            registrable("mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net"),
            "xjwqkdpqoe.net"
        );
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
