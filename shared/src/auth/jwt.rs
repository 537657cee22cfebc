use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The email.
    pub sub: String,
    /// Admin session.
    pub adm: bool,
    /// Session id.
    pub sid: String,
    pub iat: i64,
    /// Expiry, seconds since the epoch. A string here fails decoding.
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // Expiry is checked against the injected clock by the extractor (so tests can move
        // time); the claim itself must be present and numeric.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::EncodingKey;
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::new(&Secret::new(SECRET))
    }

    fn claims() -> Value {
        json!({"sub": "dev@example.com", "adm": false, "sid": "s1", "iat": 1, "exp": 4_000_000_000i64})
    }

    fn signed(alg: Algorithm, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let c = Claims {
            sub: "a@example.com".into(),
            adm: true,
            sid: "x".into(),
            iat: 1,
            exp: 2,
        };
        assert_eq!(keys().verify(&keys().sign(&c).unwrap()).unwrap(), c);
    }

    #[test]
    fn refuses_other_algorithms_and_malformed_claims() {
        assert!(keys().verify(&signed(Algorithm::HS256, &claims())).is_ok());
        assert!(keys().verify(&signed(Algorithm::HS384, &claims())).is_err());
        assert!(keys().verify(&signed(Algorithm::HS512, &claims())).is_err());
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert!(keys().verify(&none).is_err());
        let mut string_exp = claims();
        string_exp["exp"] = json!("4000000000");
        assert!(
            keys()
                .verify(&signed(Algorithm::HS256, &string_exp))
                .is_err()
        );
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(keys().verify(&signed(Algorithm::HS256, &no_exp)).is_err());
        let other_key = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"another-secret-another-secret-00"),
        )
        .unwrap();
        assert!(keys().verify(&other_key).is_err());
    }
}
