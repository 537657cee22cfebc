//! The platforms' signatures. Each returns the value as the platform compares it, before
//! any URL encoding (the request builder encodes once).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (a long one is hashed), so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Feishu/Lark: base64(HMAC-SHA256(key = "<timestamp>\n<secret>", message = empty)),
/// `timestamp` in seconds.
pub fn feishu(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// DingTalk: base64(HMAC-SHA256(key = secret, message = "<timestamp>\n<secret>")),
/// `timestamp` in milliseconds; URL-encoded by the caller, once.
pub fn dingtalk(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// The plain webhook's `X-CRAT-Signature`: `sha256=` and the lower-case hex
/// HMAC-SHA256 of the body with the secret as key.
pub fn webhook(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}
