//! The words of the chat messages in each [`MailLanguage`]: one table per language, as
//! for the mail, so a missing translation is a compile error, not an English fallback.

use crate::domain::MailLanguage;
use crate::domain::run::RunOutcome;

/// Everything a chat message says that is not data. Phrases with numbers are functions.
pub struct ChatWords {
    pub project: &'static str,
    pub test_item: &'static str,
    pub job: &'static str,
    pub run: &'static str,
    pub results: &'static str,
    pub duration: &'static str,
    pub failed_step: &'static str,
    pub error: &'static str,
    /// Passed, tests failed, error, cancelled.
    pub outcomes: [&'static str; 4],
    /// "95.0% passed", from the rate already formatted.
    pub pass_rate: fn(&str) -> String,
    /// passed, failed, broken, skipped, unknown, total.
    pub counts: fn([u64; 5], u64) -> String,
    pub no_tests: &'static str,
    pub summary_unavailable: &'static str,
    /// "New failures (N)".
    pub new_failures: fn(u64) -> String,
    /// "and N more".
    pub and_more: fn(u64) -> String,
    pub see_run_page: &'static str,
    pub open_report: &'static str,
    pub open_run: &'static str,
    /// The Test button's title, with the project's name.
    pub test_title: fn(&str) -> String,
    pub test_text: &'static str,
    /// Duration units: milliseconds, seconds, minutes, hours.
    pub units: [&'static str; 4],
}

impl ChatWords {
    pub fn of(language: MailLanguage) -> &'static ChatWords {
        match language {
            MailLanguage::English => &EN,
            MailLanguage::SimplifiedChinese => &ZH_CN,
        }
    }

    pub fn outcome(&self, outcome: RunOutcome) -> &'static str {
        let [passed, tests_failed, error, cancelled] = self.outcomes;
        match outcome {
            RunOutcome::Passed => passed,
            RunOutcome::TestsFailed => tests_failed,
            RunOutcome::Error => error,
            RunOutcome::Cancelled => cancelled,
        }
    }
}

static EN: ChatWords = ChatWords {
    project: "Project",
    test_item: "Test item",
    job: "Job",
    run: "Run",
    results: "Results",
    duration: "Duration",
    failed_step: "Failed step",
    error: "Error",
    outcomes: ["Passed", "Tests failed", "Error", "Cancelled"],
    pass_rate: |rate| format!("{rate} passed"),
    counts: |[p, f, b, s, u], t| {
        format!("{p} passed, {f} failed, {b} broken, {s} skipped, {u} unknown ({t} in all)")
    },
    no_tests: "no tests reported",
    summary_unavailable: "summary unavailable",
    new_failures: |n| format!("New failures ({n})"),
    and_more: |n| format!("and {n} more"),
    see_run_page: "see the run page",
    open_report: "Open the report",
    open_run: "Open the run",
    test_title: |project| format!("CRAT test message for {project}"),
    test_text: "This channel will hear about finished deploy-and-test runs.",
    units: ["ms", "s", "min", "h"],
};

static ZH_CN: ChatWords = ChatWords {
    project: "项目",
    test_item: "测试项",
    job: "任务",
    run: "运行",
    results: "结果",
    duration: "时长",
    failed_step: "失败步骤",
    error: "错误",
    outcomes: ["通过", "测试未通过", "出错", "已取消"],
    pass_rate: |rate| format!("通过率 {rate}"),
    counts: |[p, f, b, s, u], t| {
        format!("通过 {p}，失败 {f}，异常 {b}，跳过 {s}，未知 {u}（共 {t} 个）")
    },
    no_tests: "未报告任何测试",
    summary_unavailable: "汇总不可用",
    new_failures: |n| format!("新增失败（{n} 个）"),
    and_more: |n| format!("另有 {n} 个"),
    see_run_page: "见运行页面",
    open_report: "打开测试报告",
    open_run: "打开运行页面",
    test_title: |project| format!("{project} 的 CRAT 测试消息"),
    test_text: "此频道将收到部署测试运行结束的通知。",
    units: ["毫秒", "秒", "分", "小时"],
};
