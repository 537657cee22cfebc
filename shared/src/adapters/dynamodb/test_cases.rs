//! Per-run test cases. Placeholder until the store keeps them: every call says so.

use async_trait::async_trait;

use super::DynamoStore;
use crate::domain::{FlakyTest, Run, TestCase, TestId, TestResultOfRun, TestStatus};
use crate::ports::{Page, StoreError, StoreResult, TestCaseStore};

fn not_yet() -> StoreError {
    StoreError::Unavailable("test cases are not stored by this store yet".to_owned())
}

#[async_trait]
impl TestCaseStore for DynamoStore {
    async fn put_test_cases(&self, _run: &Run, _cases: &[TestCase]) -> StoreResult<()> {
        Err(not_yet())
    }

    async fn list_test_cases(
        &self,
        _run_id: i64,
        _status: Option<TestStatus>,
        _after: Option<&TestId>,
        _limit: usize,
    ) -> StoreResult<Page<TestCase, TestId>> {
        Err(not_yet())
    }

    async fn all_test_cases(&self, _run_id: i64) -> StoreResult<Vec<TestCase>> {
        Err(not_yet())
    }

    async fn test_history(
        &self,
        _item_id: i64,
        _test: &TestId,
        _before_run: Option<i64>,
        _limit: usize,
    ) -> StoreResult<Page<TestResultOfRun, i64>> {
        Err(not_yet())
    }

    async fn put_flaky_tests(&self, _item_id: i64, _tests: &[FlakyTest]) -> StoreResult<()> {
        Err(not_yet())
    }

    async fn list_flaky_tests(&self, _item_id: i64, _limit: usize) -> StoreResult<Vec<FlakyTest>> {
        Err(not_yet())
    }
}
