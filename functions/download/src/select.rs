//! Choosing the package file among a listing's files.
//!
//! A file is a candidate for service `S` when its name is `S`, then one separator
//! character (`-`, `_` or `.`), then anything, and ends with `.tar.gz` or `.tgz`
//! (extension case-insensitive, service name case-sensitive). The separator rule keeps
//! service `cds` from picking up `cdsx-1.tar.gz` or `cds2-1.tar.gz`; `cds.tar.gz`,
//! `cds-1.2.tar.gz` and `cds_el7.tgz` all match.
//!
//! Among candidates the highest version wins: the part between the service name and the
//! extension is compared with [`natural_cmp`] (digit runs numerically, so `cds-1.2.10`
//! beats `cds-1.2.9`); equal versions are decided by the newest modification time, then
//! by name so the choice never depends on listing order. Pre-release suffixes get no
//! special meaning: `cds-1.2-rc1` sorts after `cds-1.2`.

use std::cmp::Ordering;

use crate::listing::{Listing, ListingEntry, natural_cmp};

/// Extensions a package may have (matched ASCII case-insensitively).
pub const PACKAGE_EXTENSIONS: [&str; 2] = [".tar.gz", ".tgz"];

/// Characters allowed right after the service name.
pub const SEPARATORS: [char; 3] = ['-', '_', '.'];

/// The version part of `name` (between the service name and the extension) when `name`
/// is a package of `service`; `None` otherwise.
pub fn package_version<'n>(name: &'n str, service: &str) -> Option<&'n str> {
    if service.is_empty() {
        return None;
    }
    let rest = name.strip_prefix(service)?;
    if !rest.starts_with(SEPARATORS) {
        return None;
    }
    let ext_len = PACKAGE_EXTENSIONS.iter().find_map(|ext| {
        let n = name.len();
        (n >= ext.len() && name.as_bytes()[n - ext.len()..].eq_ignore_ascii_case(ext.as_bytes()))
            .then_some(ext.len())
    })?;
    // The extension must not overlap the service name (`cds.tar` + `.tar.gz`...).
    let end = name.len() - ext_len;
    (end >= service.len()).then(|| &name[service.len()..end])
}

/// Whether `name` is a package of `service` (see the module doc for the rule).
pub fn is_package_of(name: &str, service: &str) -> bool {
    package_version(name, service).is_some()
}

/// Orders two candidates of the same service: higher version, then newer, then name.
pub fn compare_candidates(a: &ListingEntry, b: &ListingEntry, service: &str) -> Ordering {
    let version = |e: &ListingEntry| {
        package_version(&e.name, service)
            .unwrap_or_default()
            .to_owned()
    };
    natural_cmp(&version(a), &version(b))
        .then_with(|| a.mtime.cmp(&b.mtime))
        .then_with(|| natural_cmp(&a.name, &b.name))
}

/// The package to download for `service`, if any file matches.
pub fn choose_package<'l>(listing: &'l Listing, service: &str) -> Option<&'l ListingEntry> {
    listing
        .files
        .iter()
        .filter(|f| is_package_of(&f.name, service))
        .max_by(|a, b| compare_candidates(a, b, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mtime: Option<i64>) -> ListingEntry {
        ListingEntry {
            name: name.to_owned(),
            mtime,
            size: None,
        }
    }

    fn listing(names: &[(&str, Option<i64>)]) -> Listing {
        Listing {
            files: names.iter().map(|(n, t)| entry(n, *t)).collect(),
            directories: vec![],
        }
    }

    #[test]
    fn separator_rule() {
        for yes in [
            "cds-1.tar.gz",
            "cds_1.tgz",
            "cds.tar.gz",
            "cds.tgz",
            "cds-1.TAR.GZ",
            "cds-x.y-el7.tar.gz",
        ] {
            assert!(is_package_of(yes, "cds"), "{yes}");
        }
        for no in [
            "cdsx-1.tar.gz",
            "cds2-1.tar.gz",
            "cds-1.tar.gz.sha256",
            "cds-1.zip",
            "cds-1.tar",
            "CDS-1.tar.gz",
            "xcds-1.tar.gz",
            "cds",
            "cds-",
            "cds-1.gz",
        ] {
            assert!(!is_package_of(no, "cds"), "{no}");
        }
        assert!(
            !is_package_of("cds.tar.gz", "cds.tar"),
            "extension may not overlap the service name"
        );
        assert!(
            !is_package_of("-1.tar.gz", ""),
            "an empty service matches nothing"
        );
        assert_eq!(package_version("cds-1.2.10.tar.gz", "cds"), Some("-1.2.10"));
        assert_eq!(package_version("cds.tgz", "cds"), Some(""));
    }

    #[test]
    fn highest_version_wins() {
        let l = listing(&[
            ("cds-1.2.9.tar.gz", Some(300)),
            ("cds-1.2.10.tar.gz", Some(100)),
            ("cds-1.2.tar.gz", Some(400)),
            ("cdsx-9.tar.gz", Some(500)),
            ("cds-1.2.10.tar.gz.sha256", Some(500)),
        ]);
        assert_eq!(choose_package(&l, "cds").unwrap().name, "cds-1.2.10.tar.gz");
    }

    #[test]
    fn equal_versions_newest_wins_then_name() {
        let l = listing(&[("cds-1.0.tgz", Some(200)), ("cds-1.0.tar.gz", Some(100))]);
        assert_eq!(choose_package(&l, "cds").unwrap().name, "cds-1.0.tgz");
        let l = listing(&[("cds-1.0.tgz", None), ("cds-1.0.tar.gz", Some(1))]);
        assert_eq!(choose_package(&l, "cds").unwrap().name, "cds-1.0.tar.gz");
        // Same version and time: the choice does not depend on listing order.
        let a = listing(&[("cds-1.0.tgz", None), ("cds-1.0.tar.gz", None)]);
        let b = listing(&[("cds-1.0.tar.gz", None), ("cds-1.0.tgz", None)]);
        assert_eq!(
            choose_package(&a, "cds").unwrap().name,
            choose_package(&b, "cds").unwrap().name
        );
    }

    #[test]
    fn nothing_matches() {
        let l = listing(&[("cdsx-1.tar.gz", None), ("other.tar.gz", None)]);
        assert!(choose_package(&l, "cds").is_none());
        assert!(choose_package(&Listing::default(), "cds").is_none());
    }
}
