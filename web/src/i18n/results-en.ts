// English: the run's test cases, their diff and history, flaky tests, re-running the
// failures. Kept apart from en.ts (which is full); results-zh-CN.ts has the same keys.

export const resultsEn = {
  'results.title': 'Test cases',
  'results.notStored': 'The test cases of this run were not stored: {why}',
  'results.noReason': 'the report was not read.',
  'results.notYet': 'The test cases are read from the report when the run completes.',
  'results.count': '{n} test cases stored',
  'results.overCap': '{n} test cases stored of {total} in the report.',
  'results.filter': 'Show',
  'results.filterAll': 'All statuses',
  'results.col.status': 'Status',
  'results.col.name': 'Test',
  'results.col.duration': 'Duration',
  'results.col.message': 'Message',
  'results.col.history': 'History',
  'results.none': 'No test case with this status.',
  'results.showHistory': 'History',
  'results.showHistoryAria': 'History of {name}',
  'results.historyLabel': 'Results of {name} across runs, oldest first',
  'results.historyPoint': 'Run #{run}, build #{build}: {status}',
  'results.historySummary': 'Failed in {failed} of the last {total} runs.',
  'results.historyNone': 'No history yet.',
  'results.flakyMark': 'flaky',

  'diff.title': 'Changes since the previous run',
  'diff.with': 'Compared with run #{id}',
  'diff.noPrevious': 'There is no earlier completed run of this item and environment with stored test cases to compare with.',
  'diff.new_failures': 'New failures',
  'diff.fixed': 'Fixed',
  'diff.still_failing': 'Still failing',
  'diff.new_tests': 'New tests',
  'diff.removed_tests': 'Removed tests',
  'diff.empty': 'None.',
  'diff.more': 'And {n} more.',
  'diff.notThere': 'not run',

  'run.rerunFailed': 'Re-run failed tests',
  'run.rerunFailedConfirm': 'Re-run only the failed and broken tests of run #{id} ({n} of them)?',
  'run.testPlan': 'Test plan',
  'run.testPlanValue': 'only the failed tests of run #{id} ({n} tests)',

  'flaky.title': 'Flaky tests',
  'flaky.intro': 'Tests that both passed and failed for the same build and parameter-set version, or that the report marks flaky.',
  'flaky.none': 'No flaky tests found.',
  'flaky.col.name': 'Test',
  'flaky.col.reason': 'Why',
  'flaky.col.passed': 'Passed',
  'flaky.col.failed': 'Failed',
  'flaky.col.last': 'Last seen',
  'flaky.reason.report': 'The report marks it flaky',
  'flaky.reason.mixed': 'Passed and failed for one build',

  'error.no_failed_tests': 'This run has no failed or broken test stored to re-run.',
  'error.test_plan_too_large': 'Too many failed tests to re-run them one by one: run the whole suite again.',
};

export type ResultsDict = { [K in keyof typeof resultsEn]: string };
