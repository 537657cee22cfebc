//! The result mail as a person sees it: written by the outbox adapter, read back from the
//! `.eml` with mail-parser, its `cid:` parts turned into `data:` URLs, and screenshotted by
//! headless Chromium into `target/test-artifacts/mail-<language>.png` (kept for a look).
//!
//! Chromium: `$CHROMIUM`, else `/usr/bin/chromium` (`make test` installs it). Without it
//! the test is skipped with a message, unless `CRAT_REQUIRE_CHROMIUM` is set (`make test`
//! sets it), when it fails.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use shared::domain::MailLanguage;
use shared::mail::chart::{COLORS, pie_chart_png};
use shared::mail::compose::success_mail;
use shared::mail::transport::MailTransport;

use super::{SUMMARY, ctx, run, send};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CRAT_REQUIRE_CHROMIUM").is_none(),
        "CRAT_REQUIRE_CHROMIUM is set but {} does not exist (apt-get install -y chromium)",
        path.display()
    );
    eprintln!(
        "SKIPPED the_outbox_mail_renders_in_chromium: {} not found (apt-get install -y chromium; \
         set CRAT_REQUIRE_CHROMIUM=1 to make this a failure)",
        path.display()
    );
    None
}

/// The `.eml`'s HTML part with every `cid:` reference replaced by its part as a `data:` URL,
/// as a mail client shows it.
fn html_with_inline_parts(eml: &[u8]) -> String {
    let m = MessageParser::default().parse(eml).unwrap();
    let mut inline: HashMap<String, String> = HashMap::new();
    for part in &m.parts {
        if let (Some(cid), PartType::Binary(bytes) | PartType::InlineBinary(bytes)) =
            (part.content_id(), &part.body)
        {
            let ct = part.content_type().unwrap();
            let mime = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream"));
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            inline.insert(cid.to_owned(), format!("data:{mime};base64,{b64}"));
        }
    }
    assert!(!inline.is_empty(), "the mail has no inline part");
    let mut html = m.body_html(0).unwrap().into_owned();
    for (cid, url) in &inline {
        html = html.replace(&format!("cid:{cid}"), url);
    }
    assert!(!html.contains("cid:"), "an unresolved cid: reference");
    html
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(chromium: &Path, html_file: &Path, png_file: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let _ = std::fs::remove_file(png_file);
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=760,1300",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", png_file.display()))
            .arg(format!("file://{}", html_file.display()))
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status(),
    )
    .await
    .expect("chromium did not finish within 120 s")
    .unwrap();
    assert!(status.success(), "chromium: {status}");
}

/// RGBA pixels of a PNG, and its size.
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(
        png::Transformations::normalize_to_color8() | png::Transformations::ALPHA,
    );
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let pixels = buf
        .chunks_exact(channels)
        .map(|p| match channels {
            4 => [p[0], p[1], p[2], p[3]],
            2 => [p[0], p[0], p[0], p[1]],
            _ => [p[0], p[1], p[2], 255],
        })
        .collect();
    (info.width, info.height, pixels)
}

fn rgb(hex: &str) -> [u8; 3] {
    let n = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

fn near(p: [u8; 4], c: [u8; 3]) -> bool {
    (0..3).all(|i| p[i].abs_diff(c[i]) <= 12)
}

#[tokio::test]
async fn the_outbox_mail_renders_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let artifacts = artifacts_dir();
    for language in MailLanguage::ALL {
        // GIVEN the success mail with the real pie chart, delivered to the outbox
        let outbox = tempfile::tempdir().unwrap();
        let mailer = MailTransport::outbox(outbox.path().to_path_buf());
        let r = run("COMPLETED");
        let mut c = ctx(&r, &["dev@example.com"]);
        c.language = language;
        c.chart_png = Some(pie_chart_png(&SUMMARY, 240));
        let file = send(&mailer, &success_mail(&c).unwrap()).await.unwrap();
        let eml = std::fs::read(outbox.path().join(&file)).unwrap();

        // WHEN its HTML, with the cid: parts resolved, is screenshotted in Chromium
        let html = html_with_inline_parts(&eml);
        assert!(html.contains(&format!("lang=\"{}\"", language.as_str())));
        let tag = language.as_str();
        let html_file = artifacts.join(format!("mail-{tag}.html"));
        let png_file = artifacts.join(format!("mail-{tag}.png"));
        std::fs::write(&html_file, &html).unwrap();
        screenshot(&chromium, &html_file, &png_file).await;

        // THEN the picture is the mail: the window's size, many colours, the amber band
        // (8 of 10 passed) and the chart's slices (the inline image was shown)
        let bytes = std::fs::read(&png_file).unwrap();
        let (w, h, pixels) = decode(&bytes);
        assert_eq!((w, h), (760, 1300), "{tag}");
        let mut colours: Vec<[u8; 4]> = pixels.clone();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 200, "{tag}: only {} colours", colours.len());
        let count = |c: [u8; 3]| pixels.iter().filter(|p| near(**p, c)).count();
        assert!(count(rgb("#a36100")) > 760 * 40, "{tag}: no amber band");
        let passed = count(rgb(COLORS[0].1));
        assert!(
            passed > 10_000,
            "{tag}: the chart's passed slice has {passed} px"
        );
        assert!(count(rgb(COLORS[1].1)) > 500, "{tag}: no failed slice");
        eprintln!(
            "{tag}: {} ({} bytes, {} colours)",
            png_file.display(),
            bytes.len(),
            colours.len()
        );
    }
}
