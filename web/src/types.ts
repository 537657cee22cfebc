// The API's shapes (see GET /api/v1/openapi.json).

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Me {
  email: string;
  is_admin: boolean;
  expires_at: string;
}

export interface LoginResponse {
  token: string;
  expires_at: string;
  user: { email: string; is_admin: boolean };
}

export interface Build {
  id: number;
  job_name: string;
  build_number: number;
  build_user?: string | null;
  package_path: string;
  created_at: string;
}

export interface JobVersion {
  job_name: string;
  build_id: number;
  build?: Build | null;
  auto_sync: boolean;
  sync_on_new_build: boolean;
  last_synced_at: string;
  updated_by: string;
  updated_at: string;
}

export interface JobOverview {
  job_name: string;
  latest_build: Build;
  selection?: JobVersion | null;
}

export interface TestItem {
  id: number;
  name: string;
  job_name: string;
  parameter_set_id?: number | null;
  /** null: the default environment (the settings' test server). */
  environment_id?: number | null;
  description: string;
  enabled: boolean;
  notify_emails: string[];
  created_at: string;
  updated_at: string;
}

export interface Environment {
  id: number;
  name: string;
  external_test_server_url: string;
  report_origins: string[];
  description: string;
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface ParameterSet {
  id: number;
  name: string;
  description: string;
  params: Record<string, unknown>;
  is_default: boolean;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by?: string | null;
}

export interface ParameterSetVersion {
  parameter_set_id: number;
  version: number;
  name: string;
  description: string;
  params: Record<string, unknown>;
  updated_at: string;
  updated_by?: string | null;
}

export const RUN_STATUSES = [
  'QUEUED',
  'PENDING',
  'DOWNLOADING',
  'DOWNLOADED',
  'TESTING',
  'MONITORING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const LIVE_STATUSES: RunStatus[] = ['PENDING', 'DOWNLOADING', 'DOWNLOADED', 'TESTING', 'MONITORING'];
export function isLive(s: string): boolean {
  return (LIVE_STATUSES as string[]).includes(s);
}

export const STEP_NAMES = ['DOWNLOAD', 'TRIGGER', 'MONITOR', 'NOTIFY'] as const;
export type StepName = (typeof STEP_NAMES)[number];
export const STEP_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface Step {
  name: StepName;
  status: StepStatus;
  started_at?: string | null;
  finished_at?: string | null;
  details: Record<string, unknown>;
  error?: string | null;
}

export interface Summary {
  passed: number;
  failed: number;
  broken: number;
  skipped: number;
  unknown: number;
  total: number;
  duration_ms?: number | null;
}

export interface Notification {
  status: 'SENT' | 'FAILED' | 'SKIPPED';
  sent_at?: string | null;
  error?: string | null;
  recipients: string[];
  attempts: number;
}

export type RunOutcome = 'passed' | 'tests_failed' | 'error' | 'cancelled';

export interface Run {
  id: number;
  test_item_id: number;
  test_item_name: string;
  build_info_id: number;
  build: { job_name: string; build_number: number; package_path: string };
  parameter_set_id: number;
  parameter_set_version: number;
  params: Record<string, unknown>;
  triggered_by: string;
  status: RunStatus;
  /** What an ended run came to; absent while it runs (and while its report is read). */
  outcome?: RunOutcome | null;
  task_id?: string | null;
  package_url?: string | null;
  package_size?: number | null;
  package_sha256?: string | null;
  report_url?: string | null;
  /** Why report_url was not read (its origin is not in report_origins). */
  report_refused?: string | null;
  summary?: Summary | null;
  error_message?: string | null;
  execution_id: string;
  started_at: string;
  finished_at?: string | null;
  steps: Step[];
  notification?: Notification | null;
  revision: number;
  /** `default`, or the test environment's id: the lane it waits in and holds. */
  lane?: string;
  /** When it joined its lane's queue; null when it started at once. */
  queued_at?: string | null;
  /** Whether the report's test cases were stored, and if not, why. */
  test_cases?: TestCasesNote | null;
  /** A re-run of only the failures: the tests it ran. */
  test_plan?: TestPlan | null;
  /** What the team chats were told; absent when no channel was. */
  notifications?: RunNotifications | null;
}

export interface RunNotifications {
  chat?: ChatNotification[];
}

/** One channel's message about a run. */
export interface ChatNotification {
  channel_id: number;
  status: 'sent' | 'failed' | 'skipped';
  attempts: number;
  error?: string | null;
  sent_at?: string | null;
}

export const TEST_STATUSES = ['passed', 'failed', 'broken', 'skipped', 'unknown'] as const;
export type TestStatus = (typeof TEST_STATUSES)[number];

export interface TestCasesNote {
  stored: number;
  in_report: number;
  source?: string | null;
  reason?: string | null;
}

export interface TestPlan {
  of_run: number;
  tests: { id?: string; selector?: string }[];
  left_out: number;
}

export interface TestCase {
  id: string;
  name: string;
  suite: string[];
  status: TestStatus;
  duration_ms?: number | null;
  message?: string | null;
  full_name?: string | null;
  flaky?: boolean;
  retries?: number;
}

export interface TestCasesPage extends Page<TestCase> {
  test_cases?: TestCasesNote | null;
}

export interface TestChange {
  id: string;
  name: string;
  before?: TestStatus | null;
  now?: TestStatus | null;
  message?: string | null;
}

export const DIFF_KINDS = ['new_failures', 'fixed', 'still_failing', 'new_tests', 'removed_tests'] as const;
export type DiffKind = (typeof DIFF_KINDS)[number];

export interface Comparison {
  run_id: number;
  with_run_id?: number | null;
  counts: Record<DiffKind, number>;
  diff: Record<DiffKind, TestChange[]>;
}

export interface TestResultOfRun {
  run_id: number;
  job_name: string;
  build_number: number;
  parameter_set_id: number;
  parameter_set_version: number;
  environment_id?: number | null;
  status: TestStatus;
  duration_ms?: number | null;
  message?: string | null;
  finished_at?: string | null;
}

export interface FlakyTest {
  id: string;
  name: string;
  reason: 'report' | 'mixed';
  passed: number;
  failed: number;
  last_run_id: number;
  last_seen_at: string;
}

/** A run as a trigger (and the queue) answers it: while QUEUED, its place and when it may start. */
export interface AdmittedRun extends Run {
  queue_position?: number | null;
  estimated_start_at?: string | null;
}

/** One lane of `GET /queue`: `name` is null for the default lane (the settings' test server). */
export interface LaneView {
  id: string;
  name?: string | null;
  active_run?: Run | null;
  active_estimate?: RunEstimate | null;
  queued: AdmittedRun[];
}

/** A live run's remaining time (`GET /deploy-test-runs/{id}/estimate`). */
export interface RunEstimate {
  elapsed_seconds: number;
  remaining_seconds: number;
  finish_at: string;
  percent: number;
  overdue: boolean;
  based_on_runs: number;
  step_elapsed_seconds: { step: string; seconds: number; usual_seconds: number | null }[];
}

export interface QueueView {
  lanes: LaneView[];
}

export interface ActiveRun {
  id: number;
  test_item_id: number;
  test_item_name: string;
  status: string;
  triggered_by: string;
  started_at: string;
}

export interface ExecutionEvent {
  id: number;
  type: string;
  state?: string | null;
  timestamp: string;
  input?: unknown;
  output?: unknown;
  error?: string | null;
  cause?: string | null;
}

export interface ExecutionView {
  execution_id: string;
  status: string;
  current_state?: string | null;
  started_at: string;
  stopped_at?: string | null;
  events: ExecutionEvent[];
  /** Pass as `cursor` for the next page (same order); null on the last one. */
  next_cursor?: string | null;
}

export interface SessionInfo {
  email: string;
  is_admin: boolean;
  created_at: string;
  expires_at: string;
}

export interface OutboxEntry {
  file: string;
  size: number;
  modified: string;
  subject: string;
  to: string;
}

export interface MailPreview {
  subject: string;
  to: string;
  /** The HTML part, its inline chart as a data: URI; null without one. */
  html?: string | null;
  text?: string | null;
}

export type Settings = Record<string, unknown>;

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actor_is_admin: boolean;
  /** `<record>.<verb>`: `test_item.update`, `run.trigger`, … */
  action: string;
  /** `test-item/3`, `run/7`, `job/<name>`, `session/<email>`, `settings`, … */
  target: string;
  request_id: string;
  /** `{created: {...}}`, `{deleted: {...}}`, `{changed: {field: {from, to}}}` or facts. */
  changes: Record<string, unknown>;
}

export const CHANNEL_KINDS = ['feishu', 'dingtalk', 'wecom', 'slack', 'teams', 'webhook'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];
/** The kinds whose messages are signed: only these take a secret (the API refuses it otherwise). */
export const SIGNING_KINDS: ChannelKind[] = ['feishu', 'dingtalk', 'webhook'];
export const CHANNEL_RULES = ['always', 'failure', 'changed'] as const;
export type ChannelRule = (typeof CHANNEL_RULES)[number];

/** A team chat runs are announced in. The secret is write-only: only `secret_set` comes back. */
export interface ChannelView {
  id: number;
  name: string;
  kind: ChannelKind;
  url: string;
  secret_set: boolean;
  rule: ChannelRule;
  /** Empty: every test item. */
  test_item_ids: number[];
  language: 'en' | 'zh-CN';
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

/** POST and PUT: `secret` absent or null keeps the stored one, `""` clears it. */
export interface ChannelBody {
  name: string;
  kind: ChannelKind;
  url: string;
  secret?: string | null;
  rule: ChannelRule;
  test_item_ids: number[];
  language: 'en' | 'zh-CN';
  enabled: boolean;
}

/** What the platform said to `POST /notification-channels/{id}/test`. */
export interface ChannelTestAnswer {
  delivered: boolean;
  status?: number | null;
  attempts: number;
  detail: string;
}
