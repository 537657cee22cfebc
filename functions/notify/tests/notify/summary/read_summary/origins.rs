//! Reports on another origin are not fetched; the default port is the same origin; a
//! redirect to another origin is refused.

use super::*;
use shared::domain::Origin;
use shared::mail::summary::{SummaryError, SummarySource, read_summary};
use std::time::Duration;

#[tokio::test]
async fn report_on_another_origin_is_not_fetched() {
    let server = ReportServer::start().await;
    let other = ReportServer::start().await;
    other.put("r/widgets/summary.json", ALLURE2);
    let port = server.addr.port();
    for report in [
        format!("{}/r/", other.origin()),
        format!("http://localhost:{port}/r/"),
        format!("https://127.0.0.1:{port}/r/"),
        format!("http://127.0.0.1.nip.io:{port}/r/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let e = read_summary(&client(), &report, &server.allowed(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SummaryError::OffOrigin { .. }),
            "{report}: {e:?}"
        );
        assert!(e.to_string().contains("is not on an allowed origin"), "{e}");
    }
    for report in [
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
        format!("ftp://127.0.0.1:{port}/r/"),
        String::new(),
    ] {
        let e = read_summary(&client(), &report, &server.allowed(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SummaryError::InvalidReportUrl { .. }),
            "{report}: {e:?}"
        );
    }
    let e = read_summary(&client(), &format!("{}/r/", server.origin()), &[], T)
        .await
        .unwrap_err();
    assert!(matches!(e, SummaryError::OffOrigin { .. }), "{e:?}");
    // Another origin is read once it is allowed, and then only it.
    let both = [server.allowed(), other.allowed()].concat();
    let (_, source) = read_summary(&client(), &format!("{}/r/", other.origin()), &both, T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Allure2);
    assert_eq!(other.hits(), ["/r/widgets/summary.json"]);
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn default_port_is_the_same_origin() {
    // `http://h` and `http://h:80` are one origin: the files are attempted (whatever answers
    // on port 80 here, if anything), not refused up front.
    let r = read_summary(
        &client(),
        "http://127.0.0.1:80/r/",
        &[Origin::parse("o", "http://127.0.0.1").unwrap()],
        Duration::from_secs(2),
    )
    .await;
    assert!(
        !matches!(
            r,
            Err(SummaryError::OffOrigin { .. } | SummaryError::InvalidReportUrl { .. })
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn redirect_to_another_origin_is_refused() {
    let server = ReportServer::start().await;
    let other = ReportServer::start().await;
    other.put("r/widgets/summary.json", ALLURE2);
    server.fault(
        "/r/widgets/summary.json",
        Fault::Redirect(format!("{}/r/widgets/summary.json", other.origin())),
    );
    server.put("r/summary.json", ALLURE3);
    let report = format!("{}/r/", server.origin());
    let (_, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Allure3);
    assert!(other.hits().is_empty());

    server.fault("/r/summary.json", Fault::Status(404));
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
}
