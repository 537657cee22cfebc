//! Peak memory of reading a big report's test cases (the figure the bounded tests cite).
//!
//! ```sh
//! cargo build -p notify --example read_test_cases
//! target/debug/examples/read_test_cases write .tmp/big allure2 50000 600
//! python3 -m http.server --bind 127.0.0.1 8765 --directory .tmp/big &   # another process
//! /usr/bin/time -v target/debug/examples/read_test_cases read http://127.0.0.1:8765/
//! ```
//!
//! Measured 2026-12-02 (debug build, this 2-core machine), "Maximum resident set size" of
//! the `read` process (the whole process: runtime, TLS roots, the body and its parse):
//!
//! | report | listing file | read | peak RSS |
//! | --- | --- | --- | --- |
//! | Allure 2, 50,000 cases, 600 failed | suites.json 16 MB | over the cap, 0 details | 35,072 KB |
//! | Allure 3, 50,000 cases, 600 failed | tree.json 13 MB | over the cap, 0 details | 52,668 KB |
//! | Allure 2, 20,000 cases, 600 failed | suites.json 6.1 MB | all kept, 500 details | 25,612 KB |
//! | hostile Allure 2: 64 MiB of `{},` (22,369,608 leaves) | suites.json 64 MiB | over the cap, 5.9 s | 76,548 KB |
//! | hostile Allure 3: 64 MiB of `"a",` ids | tree.json 64 MiB | refused at the entry budget, 0.9 s | 92,420 KB |
//!
//! The hostile Allure 2 body, for instance:
//! `python3 -c 'n=(64<<20)//3-20; open("DIR/data/suites.json","w").write("{\"children\":["+",".join(["{}"]*n)+"]}")'`

#![allow(clippy::unwrap_used)]

#[path = "../tests/notify/test_cases/synth.rs"]
mod synth;

use std::time::Duration;

use shared::domain::Origin;
use shared::mail::test_cases::read_test_cases;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", dir, format, cases, failed] => {
            let (cases, failed) = (cases.parse().unwrap(), failed.parse().unwrap());
            let files = match format {
                "allure2" => synth::allure2_report(cases, failed),
                "allure3" => synth::allure3_report(cases, failed),
                other => panic!("format {other}: allure2 or allure3"),
            };
            for (path, body) in files {
                let file = std::path::Path::new(dir).join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, body).unwrap();
            }
        }
        ["read", url] => {
            let origin = Origin::of_url(&reqwest::Url::parse(url).unwrap()).unwrap();
            let client = shared::tasks::http::http_client(Duration::from_secs(30)).unwrap();
            let started = std::time::Instant::now();
            let read = read_test_cases(&client, url, &[origin], Duration::from_secs(60))
                .await
                .unwrap();
            let with_message = read.cases.iter().filter(|c| c.message.is_some()).count();
            println!(
                "{}: in_report {}, kept {}, over_cap {}, with a message {with_message}, in {:?}",
                read.source,
                read.in_report,
                read.cases.len(),
                read.over_cap,
                started.elapsed()
            );
        }
        _ => {
            eprintln!("usage: read_test_cases write DIR allure2|allure3 CASES FAILED | read URL");
            std::process::exit(2);
        }
    }
}
