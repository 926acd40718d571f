//! Names that cannot be a DGA's rendezvous domain on the public internet: a DGA generates names
//! its operator can register (or reach through an alternative root), so a name that no public
//! resolver can ever answer is not a DGA candidate, however random it looks. DNS logs are full
//! of them: NetBIOS/LLMNR host names (`brwc0cb383d1f42`, `WORKGROUP`), `.local` mDNS, home
//! routers' `.lan` and `.home`, reverse lookups. These get the verdict `local`, never `dga`.
//!
//! Alternative roots are the exception: Namecoin's `.bit` and EmerDNS's `.bazar`, `.coin`,
//! `.emc` and `.lib` are not in the Public Suffix List, yet malware resolves them through its
//! own resolvers (BazarBackdoor's DGA generates `.bazar` names: they are in our DGA data), so
//! they are scored like any public name.

/// Why a name cannot be public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPublic {
    /// One label (`workgroup`, a NetBIOS or LLMNR host name).
    SingleLabel,
    /// An IPv4 address written as a name.
    IpAddress,
    /// A reverse lookup (`in-addr.arpa`, `ip6.arpa`) or another infrastructure name under
    /// `.arpa` (`home.arpa`, RFC 8375).
    Arpa,
    /// A special-use or private-use name: `local` (mDNS, RFC 6762), `localhost`, `test`,
    /// `invalid`, `example` (RFC 6761), `onion` (RFC 7686), `internal` (ICANN's private-use
    /// TLD), `alt` (RFC 9476).
    SpecialUse,
    /// The last label is not a top-level domain of the public root (the Public Suffix List
    /// does not know it): `.lan`, `.home`, `.corp`, `.intranet`...
    UnknownTld,
}

impl NotPublic {
    /// Why, for people and for JSON output.
    pub fn reason(self) -> &'static str {
        match self {
            NotPublic::SingleLabel => "single label",
            NotPublic::IpAddress => "IP address",
            NotPublic::Arpa => "reverse lookup or .arpa",
            NotPublic::SpecialUse => "special-use name",
            NotPublic::UnknownTld => "not a public top-level domain",
        }
    }
}

/// Top-level domains reserved for special or private use.
const SPECIAL_USE: [&str; 8] = [
    "local",
    "localhost",
    "test",
    "invalid",
    "example",
    "onion",
    "internal",
    "alt",
];

/// Top-level domains of alternative roots that malware resolves through its own resolvers.
const ALTERNATIVE_ROOTS: [&str; 5] = ["bit", "bazar", "coin", "emc", "lib"];

/// Why `name` (normalised: lowercase, no trailing dot) cannot be public, or `None` when it
/// can.
pub fn not_public(name: &str) -> Option<NotPublic> {
    let Some((_, tld)) = name.rsplit_once('.') else {
        return Some(NotPublic::SingleLabel);
    };
    if tld == "arpa" {
        return Some(NotPublic::Arpa);
    }
    if SPECIAL_USE.contains(&tld) {
        return Some(NotPublic::SpecialUse);
    }
    if name.split('.').count() == 4
        && name.split('.').all(|label| {
            !label.is_empty() && label.len() <= 3 && label.bytes().all(|b| b.is_ascii_digit())
        })
    {
        return Some(NotPublic::IpAddress);
    }
    if ALTERNATIVE_ROOTS.contains(&tld) {
        return None;
    }
    (!is_public_tld(tld)).then_some(NotPublic::UnknownTld)
}

/// Whether the Public Suffix List knows `tld` as a top-level domain: as a rule of its own
/// (`com`), through a wildcard (`*.jm`), or only through second-level rules (`co.za`: `za`
/// has no rule of its own).
fn is_public_tld(tld: &str) -> bool {
    let listed = |name: &str| {
        psl::suffix(name.as_bytes())
            .is_some_and(|s| s.typ().is_some() && s.as_bytes().len() == name.len())
    };
    listed(tld)
        || listed(&format!("x.{tld}"))
        || ["co", "com", "ac", "org", "gov", "net", "edu"]
            .iter()
            .any(|second| listed(&format!("{second}.{tld}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_no_public_resolver_answers_are_not_public() {
        for (name, why) in [
            ("brwc0cb383d1f42", NotPublic::SingleLabel),
            ("workgroup", NotPublic::SingleLabel),
            ("printer.local", NotPublic::SpecialUse),
            ("x.localhost", NotPublic::SpecialUse),
            ("svc.internal", NotPublic::SpecialUse),
            ("hidden.onion", NotPublic::SpecialUse),
            ("nas.home.arpa", NotPublic::Arpa),
            ("4.3.2.1.in-addr.arpa", NotPublic::Arpa),
            ("b.a.9.8.ip6.arpa", NotPublic::Arpa),
            ("192.168.1.10", NotPublic::IpAddress),
            ("router.lan", NotPublic::UnknownTld),
            ("fileserver.corp", NotPublic::UnknownTld),
            ("kq3v9zl1mxw7.home", NotPublic::UnknownTld),
            (
                "desktop-1.getcacheddhcpresultsforcurrentconfig",
                NotPublic::UnknownTld,
            ),
        ] {
            assert_eq!(not_public(name), Some(why), "{name}");
        }
    }

    #[test]
    fn public_names_and_alternative_roots_are_scored() {
        for name in [
            "google.com",
            "xjwqkdpqoe.net",
            "example.co.uk",
            "d3ag4hukkh62yn.cloudfront.net",
            "a.b.c.d.e.org",
            "1.2.3.com",
            "xn--bcher-kva.example.de",
            "qwxzykfhtd.bazar",
            "okdfgqq.bit",
            "qwe.coin",
            // Top-level domains the list knows only by a wildcard or by second-level rules.
            "abcdefgh.jm",
            "abcdefgh.ck",
            "abcdefgh.za",
        ] {
            assert_eq!(not_public(name), None, "{name}");
        }
    }
}
