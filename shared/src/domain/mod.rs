//! Types that parse, and the pure rules over them.

pub mod build;
pub mod email;
pub mod field;
pub mod session;

pub use build::{Build, BuildNumber, JobName, JobSummary, NewBuild, PackagePath};
pub use email::Email;
pub use field::FieldError;
pub use session::{LOGIN_WINDOW, LoginFailures, MAX_LOGIN_FAILURES, Session, SessionInfo};
