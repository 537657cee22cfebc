//! Synthesized Allure reports of any size (real field sets, groups of 100 cases), for the
//! bounded tests and `examples/read_test_cases.rs` (which includes this file).

/// `(path in the report folder, body)` of an Allure 2 report with `cases` cases, `failed`
/// of them failed (spread evenly), and a detail file for each failed one.
pub fn allure2_report(cases: usize, failed: usize) -> Vec<(String, Vec<u8>)> {
    let step = cases.checked_div(failed).unwrap_or(usize::MAX).max(1);
    let mut files = Vec::new();
    let mut suites = String::from(r#"{"uid":"root","name":"suites","children":["#);
    let mut failures = 0;
    for group in 0..cases.div_ceil(100) {
        if group > 0 {
            suites.push(',');
        }
        suites.push_str(&format!(
            r#"{{"name":"tests.test_module_{group}","uid":"g{group}","children":["#
        ));
        for i in group * 100..cases.min(group * 100 + 100) {
            let fails = i % step == 0 && failures < failed;
            failures += usize::from(fails);
            let status = if fails { "failed" } else { "passed" };
            if i > group * 100 {
                suites.push(',');
            }
            suites.push_str(&format!(
                r#"{{"name":"test_case_number_{i}[param-{i}]","uid":"u{i:015x}","parentUid":"g{group}","status":"{status}","time":{{"start":1796197753614,"stop":1796197753620,"duration":6}},"flaky":false,"newFailed":false,"newPassed":false,"newBroken":false,"retriesCount":0,"retriesStatusChange":false,"parameters":["{i}"],"tags":[]}}"#
            ));
            if fails {
                files.push((
                    format!("data/test-cases/u{i:015x}.json"),
                    format!(
                        r#"{{"uid":"u{i:015x}","name":"test_case_number_{i}[param-{i}]","fullName":"tests.test_module_{group}#test_case_number_{i}","historyId":"h{i}","status":"failed","statusMessage":"AssertionError: case {i} failed\nassert 1 == 2","statusTrace":"long trace"}}"#
                    )
                    .into_bytes(),
                ));
            }
        }
        suites.push_str("]}");
    }
    suites.push_str("]}");
    files.push(("data/suites.json".to_owned(), suites.into_bytes()));
    files
}

/// The same for Allure 3: `widgets/tree.json` and the failed cases' result files.
pub fn allure3_report(cases: usize, failed: usize) -> Vec<(String, Vec<u8>)> {
    let step = cases.checked_div(failed).unwrap_or(usize::MAX).max(1);
    let mut files = Vec::new();
    let groups = cases.div_ceil(100);
    let mut tree = String::from(r#"{"root":{"groups":["#);
    tree.push_str(
        &(0..groups)
            .map(|g| format!("\"g{g}\""))
            .collect::<Vec<_>>()
            .join(","),
    );
    tree.push_str(r#"],"leaves":[]},"groupsById":{"#);
    for group in 0..groups {
        let leaves: Vec<String> = (group * 100..cases.min(group * 100 + 100))
            .map(|i| format!("\"n{i}\""))
            .collect();
        if group > 0 {
            tree.push(',');
        }
        tree.push_str(&format!(
            r#""g{group}":{{"nodeId":"g{group}","name":"test_module_{group}.py","statistic":{{"total":100}},"leaves":[{}]}}"#,
            leaves.join(",")
        ));
    }
    tree.push_str(r#"},"leavesById":{"#);
    let mut failures = 0;
    for i in 0..cases {
        let fails = i % step == 0 && failures < failed;
        failures += usize::from(fails);
        let status = if fails { "failed" } else { "passed" };
        if i > 0 {
            tree.push(',');
        }
        tree.push_str(&format!(
            r#""n{i}":{{"nodeId":"n{i}","id":"{i:032x}.d41d8cd98f00b204e9800998ecf8427e","name":"test_case_number_{i}","status":"{status}","duration":6,"flaky":false,"start":1796197753614,"retry":false,"retriesCount":0,"groupOrder":{i}}}"#
        ));
        if fails {
            files.push((
                format!("data/test-results/n{i}.json"),
                format!(
                    r#"{{"id":"n{i}","name":"test_case_number_{i}","fullName":"tests.test_module#test_case_number_{i}","status":"failed","error":{{"message":"AssertionError: case {i} failed\nassert 1 == 2","trace":"long trace"}}}}"#
                )
                .into_bytes(),
            ));
        }
    }
    tree.push_str("}}");
    files.push(("widgets/tree.json".to_owned(), tree.into_bytes()));
    files
}
