//! Login, JWT sessions and the extractors every router uses.
//!
//! A token is HS256 (algorithm pinned) with claims `sub` (email), `adm`, `sid`, `exp`.
//! It is valid only while the email's session record exists, carries the same `sid` and
//! token hash, and is unexpired: logout, a newer login or a forced logout revoke it at once.

mod extract;
mod jwt;
mod login;

pub use extract::{AdminUser, AuthUser};
pub use jwt::{Claims, JwtKeys};
pub use login::{LoginRequest, LoginResponse, LoginUser, login, token_sha256};
