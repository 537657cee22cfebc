//! Tests of the listing parser: nginx HTML and JSON, link filtering, decoding, the date
//! forms (a table, and a property over every time a listing can show), natural order.

use super::*;

const NGINX_HTML: &str = "<html>\r\n<head><title>Index of /CDN/pass/20250613-master-abc/el7/</title></head>\r\n<body>\r\n<h1>Index of /CDN/pass/20250613-master-abc/el7/</h1><hr><pre><a href=\"../\">../</a>\r\n<a href=\"debug/\">debug/</a>                                             13-Jun-2025 10:00                   -\r\n<a href=\"cds-1.2.3-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz\">cds-1.2.3-build-20250613-master-abcdef0123456..&gt;</a> 13-Jun-2025 10:01            12345678\r\n<a href=\"cds-1.2.3.tar.gz.sha256\">cds-1.2.3.tar.gz.sha256</a>                            25-Nov-2026 18:09                  65\r\n<a href=\"a%20b%26c.tgz\">a b&amp;c.tgz</a>                                         01-Jan-1970 00:00                   0\r\n<a href=\"./x:y.tar.gz\">x:y.tar.gz</a>                                         01-Jan-2000 00:00                 12K\r\n</pre><hr></body>\r\n</html>\r\n";

fn names(l: &Listing) -> Vec<&str> {
    l.files.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn nginx_html_names_come_from_href() {
    let l = parse_html(NGINX_HTML);
    assert_eq!(
        names(&l),
        [
            "cds-1.2.3-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz",
            "cds-1.2.3.tar.gz.sha256",
            "a b&c.tgz",
            "x:y.tar.gz"
        ]
    );
    assert_eq!(l.directories, ["debug"]);
    let long = &l.files[0];
    assert_eq!(long.size, Some(12_345_678));
    assert_eq!(long.mtime, Some(1_749_808_860)); // 2025-06-13T10:01:00Z
    assert_eq!(l.files[1].mtime, Some(1_795_630_140)); // 2026-11-25T18:09:00Z
    assert_eq!(l.files[2].mtime, Some(0));
    assert_eq!(l.files[2].size, Some(0));
    assert_eq!(l.files[3].size, None, "human sizes are not exact");
    assert_eq!(l.files[3].mtime, Some(946_684_800));
}

#[test]
fn html_skips_parent_query_absolute_and_nested_links() {
    let html = r##"<a href="../">../</a>
<a href="?C=M;O=A">Last modified</a>
<a href="/etc/passwd">x</a>
<a href="//evil.example/cds-9.tar.gz">x</a>
<a href="http://evil.example/cds-9.tar.gz">cds-9.tar.gz</a>
<a href="HTTPS://evil.example/cds-9.tar.gz">cds-9.tar.gz</a>
<a href="sub/cds-9.tar.gz">x</a>
<a href="sub%2Fcds-9.tar.gz">x</a>
<a href="..">x</a>
<a href="%2E%2E">x</a>
<a href="#top">x</a>
<abbr href="cds-8.tar.gz">no</abbr>
<a name="anchor">no href</a>
<A HREF='cds-1.tar.gz' class=x>cds-1</A>
<a class="f" href=cds-2.tgz>cds-2</a>
<a data-href="no.tar.gz" href="cds-3.tar.gz">x</a>
<a href="cds-&amp;-4.tar.gz">x</a>"##;
    let l = parse_html(html);
    assert_eq!(
        names(&l),
        [
            "cds-1.tar.gz",
            "cds-2.tgz",
            "cds-3.tar.gz",
            "cds-&-4.tar.gz"
        ]
    );
    assert!(l.directories.is_empty());
}

#[test]
fn html_with_no_links_is_an_empty_listing() {
    assert_eq!(
        parse_html("<html><body>nothing</body></html>"),
        Listing::default()
    );
    assert_eq!(parse_html(""), Listing::default());
    // Unterminated markup does not panic.
    assert!(parse_html("<a href=\"x.tar.gz").files.is_empty());
    assert_eq!(names(&parse_html("<a href=\"x.tar.gz\">x")), ["x.tar.gz"]);
}

#[test]
fn nginx_json() {
    let body = br#"[
{ "name":"el7", "type":"directory", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT" },
{ "name":"cds-1.0 final.tar.gz", "type":"file", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT", "size":123 },
{ "name":"link", "type":"other", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT" },
{ "name":"../x", "type":"file" },
{ "name":"plain.tgz" }
]"#;
    let l = parse_listing(None, body).unwrap();
    assert_eq!(names(&l), ["cds-1.0 final.tar.gz", "plain.tgz"]);
    assert_eq!(l.files[0].size, Some(123));
    assert_eq!(l.files[0].mtime, Some(1_795_630_190));
    assert_eq!(
        l.files[1],
        ListingEntry {
            name: "plain.tgz".into(),
            mtime: None,
            size: None
        }
    );
    assert_eq!(l.directories, ["el7"]);
}

#[test]
fn format_detection() {
    assert_eq!(
        detect_format(Some("application/json"), b"<html>"),
        ListingFormat::Json
    );
    assert_eq!(
        detect_format(Some("text/html"), b"  \r\n[]"),
        ListingFormat::Json
    );
    assert_eq!(detect_format(None, b"\n{\"a\":1}"), ListingFormat::Json);
    assert_eq!(
        detect_format(Some("text/html; charset=utf-8"), b"<html>"),
        ListingFormat::Html
    );
    assert_eq!(detect_format(None, b""), ListingFormat::Html);
    assert!(parse_listing(Some("application/json"), b"<html>").is_err());
    assert!(parse_listing(None, b"{\"name\": \"x\"}").is_err());
}

#[test]
fn decoding_helpers() {
    assert_eq!(
        percent_decode("a%20b%2fc%zz%4"),
        Some("a b/c%zz%4".to_owned())
    );
    assert_eq!(percent_decode("%C3%A9"), Some("é".to_owned()));
    assert_eq!(percent_decode("%FF"), None);
    assert_eq!(
        decode_html_entities("a&amp;b&lt;&#65;&#x42;&bogus;&"),
        "a&b<AB&bogus;&"
    );
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
        Some(1_582_977_600)
    );
    assert_eq!(parse_http_date("garbage"), None);
    assert_eq!(
        parse_listing_date("2025-06-13", "10:01"),
        Some(1_749_808_860)
    );
    assert_eq!(parse_listing_date("13-Foo-2025", "10:01"), None);
    assert_eq!(parse_listing_date("13-Jun-2025", "25:01"), None);
}

#[test]
fn dates_with_huge_or_odd_years_are_ignored_without_overflow() {
    for year in [
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999",
        "0",
        "10000",
    ] {
        assert_eq!(
            parse_listing_date(&format!("25-Nov-{year}"), "18:09"),
            None,
            "{year}"
        );
        assert_eq!(
            parse_listing_date(&format!("{year}-11-25"), "18:09"),
            None,
            "{year}"
        );
        assert_eq!(
            parse_http_date(&format!("Wed, 25 Nov {year} 18:09:50 GMT")),
            None,
            "{year}"
        );
    }
    let html = "<a href=\"cds-1.tar.gz\">cds-1.tar.gz</a> 25-Nov-9223372036854775807 18:09 42\n";
    let listing = parse_html(html);
    assert_eq!(listing.files[0].mtime, None);
    assert_eq!(listing.files[0].size, Some(42));
    assert_eq!(
        parse_listing_date("25-Nov-9999", "23:59"),
        Some(253_399_190_340)
    );
    assert_eq!(parse_listing_date("01-Jan-1970", "00:00"), Some(0));
}

#[test]
fn the_date_forms_listings_print() {
    let jun_13 = Some(1_749_808_860); // 2025-06-13 10:01 UTC
    for (date, time, expected) in [
        ("13-Jun-2025", "10:01", jun_13),
        ("13-jun-2025", "10:01", jun_13),
        ("13-JUN-2025", "10:01", jun_13),
        ("13-Jun-2025", "10:01:30", jun_13.map(|t| t + 30)),
        ("2025-06-13", "10:01", jun_13),
        ("2025-06-13", "10:01:30", jun_13.map(|t| t + 30)),
        ("29-Feb-2024", "23:59", Some(1_709_251_140)),
        ("01-Jan-0001", "00:00", Some(-62_135_596_800)),
        // Impossible dates and times are no modification time.
        ("29-Feb-2025", "00:00", None),
        ("31-Apr-2025", "00:00", None),
        ("00-Apr-2025", "00:00", None),
        ("2025-13-01", "00:00", None),
        ("13-Jun-2025", "24:00", None),
        ("13-Jun-2025", "10:60", None),
        ("13-Jun-2025", "10", None),
        ("13/06/2025", "10:01", None),
        ("13-Jun-2025", "-", None),
    ] {
        assert_eq!(parse_listing_date(date, time), expected, "{date} {time}");
    }
    let nov_25 = Some(1_795_630_190); // 2026-11-25 18:09:50 UTC
    for (text, expected) in [
        ("Wed, 25 Nov 2026 18:09:50 GMT", nov_25),
        ("Wed, 25 nov 2026 18:09:50 GMT", nov_25),
        // The weekday is not checked, and seconds may be missing.
        ("Mon, 25 Nov 2026 18:09:50 GMT", nov_25),
        ("Wed, 25 Nov 2026 18:09 GMT", nov_25.map(|t| t - 50)),
        ("Thu, 1 Jan 1970 00:00:00 GMT", Some(0)),
        ("Sun, 30 Feb 2026 18:09:50 GMT", None),
        ("Wed, 25 Nov 2026", None),
        ("2026-11-25T18:09:50Z", None),
    ] {
        assert_eq!(parse_http_date(text), expected, "{text}");
    }
}

/// From 0001-01-01 to 9999-12-31, the whole range a modification time is read in.
const FIRST: i64 = -62_135_596_800;
const LAST: i64 = 253_402_300_799;

proptest::proptest! {
    /// Every form the parser accepts gives back the time it shows, also through a whole
    /// autoindex row.
    #[test]
    fn every_accepted_form_re_reads_the_time_it_shows(t in FIRST..=LAST) {
        let at = chrono::DateTime::from_timestamp(t, 0).unwrap().naive_utc();
        let shown = |format: &str| at.format(format).to_string();
        let minute = t - t.rem_euclid(60);
        for (date, time, expected) in [
            (shown("%d-%b-%Y"), shown("%H:%M"), minute),
            (shown("%Y-%m-%d"), shown("%H:%M"), minute),
            (shown("%Y-%m-%d"), shown("%H:%M:%S"), t),
        ] {
            proptest::prop_assert_eq!(parse_listing_date(&date, &time), Some(expected));
            let row = format!("<a href=\"x.tgz\">x.tgz</a>   {date} {time}   42\n");
            let listing = parse_html(&row);
            proptest::prop_assert_eq!(listing.files[0].mtime, Some(expected));
            proptest::prop_assert_eq!(listing.files[0].size, Some(42));
        }
        let http = shown("%a, %d %b %Y %H:%M:%S GMT");
        proptest::prop_assert_eq!(parse_http_date(&http), Some(t));
    }

    /// nginx's JSON `mtime` as an independent HTTP-date writer prints it.
    #[test]
    fn http_dates_as_httpdate_writes_them(t in 0..=LAST) {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unsigned_abs());
        let text = httpdate::fmt_http_date(at);
        proptest::prop_assert_eq!(parse_http_date(&text), Some(t), "{}", text);
    }
}

#[test]
fn natural_order() {
    use Ordering::*;
    assert_eq!(natural_cmp("1.2.10", "1.2.9"), Greater);
    assert_eq!(natural_cmp("1.2.9", "1.2.10"), Less);
    assert_eq!(natural_cmp("-1.2", "-1.2.1"), Less);
    assert_eq!(natural_cmp("-1.10-el7", "-1.9-el8"), Greater);
    assert_eq!(natural_cmp("-20250613", "-20250612"), Greater);
    assert_eq!(
        natural_cmp("v007", "v7"),
        "v007".cmp("v7"),
        "numerically equal: byte order"
    );
    assert_eq!(natural_cmp("v007", "v8"), Less);
    assert_eq!(natural_cmp("a1", "ab"), Less, "a number sorts before text");
    assert_eq!(natural_cmp("x", "x"), Equal);
    assert_eq!(natural_cmp("", "a"), Less);
    assert_eq!(
        natural_cmp(
            "99999999999999999999999999999",
            "100000000000000000000000000000"
        ),
        Less,
        "numbers longer than u64 compare correctly"
    );
    let mut v = vec!["1.10", "1.9", "1.0.1", "1", "1.2", "1.10.0"];
    v.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(v, ["1", "1.0.1", "1.2", "1.9", "1.10", "1.10.0"]);
}
