//! Reports over the cap are read within it: a synthesized Allure 2 (and 3) report of
//! 50,000 cases with 600 failed ones gives no case, `over_cap` and the full count, and asks
//! for no detail file; one of 20,000 (the cap) keeps them all and asks for 500 details.
//!
//! Peak RSS of the same reads, measured with `functions/notify/examples/read_test_cases.rs`
//! (debug build; the report served by `python3 -m http.server` in another process) under
//! `/usr/bin/time -v`: 50,000 cases 35.1 MB (Allure 2, streamed) and 52.7 MB (Allure 3);
//! 20,000 cases with 500 details 25.6 MB. The example's doc has the commands and the
//! hostile 64 MiB bodies.

use super::*;
use shared::domain::test_case::MAX_CASES_PER_RUN;

#[tokio::test]
async fn allure2_with_50000_cases_is_over_the_cap_without_details() {
    let server = ReportServer::with_files(synth::allure2_report(50_000, 600)).await;
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert!(read.over_cap);
    assert!(read.cases.is_empty());
    assert_eq!(read.in_report, 50_000);
    assert!(server.detail_hits() <= MAX_DETAIL_FETCHES);
    assert_eq!(
        server.detail_hits(),
        0,
        "no case is kept, so no detail is needed"
    );
}

#[tokio::test]
async fn allure3_with_50000_cases_is_over_the_cap_without_details() {
    let server = ReportServer::with_files(synth::allure3_report(50_000, 600)).await;
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert!(read.over_cap && read.cases.is_empty());
    assert_eq!(read.in_report, 50_000);
    assert_eq!(server.detail_hits(), 0);
}

#[tokio::test]
async fn allure2_with_20000_cases_keeps_them_all_and_500_details() {
    let server = ReportServer::with_files(synth::allure2_report(MAX_CASES_PER_RUN, 600)).await;
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert!(!read.over_cap);
    assert_eq!(read.cases.len(), MAX_CASES_PER_RUN);
    assert_eq!(read.in_report, MAX_CASES_PER_RUN as u64);
    assert_eq!(server.detail_hits(), MAX_DETAIL_FETCHES);
    assert_eq!(
        read.cases.iter().filter(|c| c.message.is_some()).count(),
        MAX_DETAIL_FETCHES
    );
}
