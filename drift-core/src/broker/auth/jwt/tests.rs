//! The JWT authenticator against each attack and each claim, with the
//! test-only keys of `tests/data/jwt`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::broker::Action;

const SECRET: &[u8] = include_bytes!("../../../../tests/data/jwt/secret");
const RSA1: &[u8] = include_bytes!("../../../../tests/data/jwt/rsa1.key");
const RSA1_PUB: &[u8] = include_bytes!("../../../../tests/data/jwt/rsa1.pub");
const RSA2: &[u8] = include_bytes!("../../../../tests/data/jwt/rsa2.key");
const RSA2_PUB: &[u8] = include_bytes!("../../../../tests/data/jwt/rsa2.pub");
const EC1: &[u8] = include_bytes!("../../../../tests/data/jwt/ec1.key");
const EC1_PUB: &[u8] = include_bytes!("../../../../tests/data/jwt/ec1.pub");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub": "ann", "exp": now() + 600, "drift": {"publish": ["news.*"], "subscribe": ["*"]}})
}

fn hs(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret()).unwrap(),
    )
    .unwrap()
}

fn rs(key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(key).unwrap(),
    )
    .unwrap()
}

fn es(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        claims,
        &EncodingKey::from_ec_pem(EC1).unwrap(),
    )
    .unwrap()
}

fn secret() -> &'static [u8] {
    SECRET.strip_suffix(b"\n").unwrap_or(SECRET)
}

fn with(config: JwtConfig, secret_too: bool) -> JwtAuthenticator {
    let keys = vec![
        (RSA1_PUB.to_vec(), "rsa1.pub".into()),
        (RSA2_PUB.to_vec(), "rsa2.pub".into()),
        (EC1_PUB.to_vec(), "ec1.pub".into()),
    ];
    JwtAuthenticator::new(secret_too.then(secret), &keys, &config).unwrap()
}

fn all() -> JwtAuthenticator {
    with(JwtConfig::default(), true)
}

fn auth(a: &JwtAuthenticator, token: &str) -> crate::Result<Arc<Grant>> {
    a.authenticate(&Access {
        credentials: Some(token),
        peer: None,
        quota: None,
    })
}

fn refusal(a: &JwtAuthenticator, token: &str) -> String {
    let e = auth(a, token).expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(
        token.len() < 8 || !e.to_string().contains(token),
        "the token is echoed: {e}"
    );
    e.to_string()
}

/// A token with this header and these claims, signed (or not) as given.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string()),
        b64.encode(signature)
    )
}

#[test]
fn each_algorithm_verifies_and_its_claims_are_the_grant() {
    let a = all();
    for token in [hs(&claims()), rs(RSA1, &claims()), es(&claims())] {
        let g = auth(&a, &token).expect("verified");
        assert_eq!(g.subject.as_deref(), Some("ann"));
        assert!(g.authenticated);
        assert!(g.check(Action::Publish, "news.x").is_ok());
        assert!(g.check(Action::Subscribe, "anything").is_ok());
        assert_eq!(
            g.check(Action::Publish, "other").unwrap_err().kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(
            g.check(Action::Delete, "news.x").unwrap_err().kind(),
            ErrorKind::Forbidden
        );
        assert!(g.expires.is_some());
    }
}

#[test]
fn alg_none_is_refused() {
    let a = all();
    let token = forged(&json!({"alg": "none", "typ": "JWT"}), &claims(), b"");
    assert!(refusal(&a, &token).contains("alg none"));
    let token = forged(&json!({"alg": "NONE"}), &claims(), b"");
    assert!(refusal(&a, &token).contains("alg none"));
}

#[test]
fn an_hs256_token_signed_with_a_public_key_is_refused() {
    // Algorithm confusion: the attacker signs HS256 with the public key's
    // PEM as the secret, hoping the server checks it with that "key".
    let a = with(JwtConfig::default(), false);
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RSA1_PUB).unwrap(),
    )
    .unwrap();
    assert!(refusal(&a, &token).contains("HS256"), "no HS256 key here");
    // And with a secret configured, the public key's bytes are still not it.
    assert!(refusal(&all(), &token).contains("bad signature"));
}

#[test]
fn an_rs256_header_on_an_es256_signature_is_refused() {
    let es256 = es(&claims());
    let mut parts: Vec<&str> = es256.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(json!({"alg": "RS256"}).to_string());
    parts[0] = &header;
    refusal(&all(), &parts.join("."));
}

#[test]
fn a_bad_signature_is_refused() {
    let a = all();
    let token = hs(&claims());
    let (signed, _) = token.rsplit_once('.').unwrap();
    let tampered = format!("{signed}.{}", "A".repeat(43));
    assert!(refusal(&a, &tampered).contains("bad signature"));
    // Claims changed after signing.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    parts[1] = b64
        .encode(json!({"sub": "ann", "exp": now() + 600, "drift": {"admin": ["*"]}}).to_string());
    assert!(refusal(&a, &parts.join(".")).contains("bad signature"));
    // Signed by a key this server does not have.
    let other = JwtAuthenticator::new(
        None,
        &[(RSA2_PUB.to_vec(), "rsa2.pub".into())],
        &JwtConfig::default(),
    )
    .unwrap();
    assert!(refusal(&other, &rs(RSA1, &claims())).contains("bad signature"));
}

#[test]
fn an_expired_token_is_refused() {
    let mut c = claims();
    c["exp"] = json!(now() - 5);
    assert!(refusal(&all(), &hs(&c)).contains("expired"));
}

#[test]
fn a_token_not_valid_yet_is_refused() {
    let mut c = claims();
    c["nbf"] = json!(now() + 300);
    assert!(refusal(&all(), &hs(&c)).contains("not valid yet"));
}

#[test]
fn exp_and_nbf_of_the_wrong_type_are_refused() {
    // CVE-2026-25537: a string exp or nbf must not count as absent.
    let mut c = claims();
    c["nbf"] = json!((now() + 300).to_string());
    refusal(&all(), &hs(&c));
    let mut c = claims();
    c["exp"] = json!("never");
    refusal(
        &with(
            JwtConfig {
                allow_no_exp: true,
                ..JwtConfig::default()
            },
            true,
        ),
        &hs(&c),
    );
}

#[test]
fn exp_is_required_unless_allowed() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(refusal(&all(), &hs(&c)).contains("no exp claim"));
    let lenient = with(
        JwtConfig {
            allow_no_exp: true,
            ..JwtConfig::default()
        },
        true,
    );
    let g = auth(&lenient, &hs(&c)).expect("no exp allowed");
    assert_eq!(g.expires, None);
}

#[test]
fn issuer_and_audience_must_match_when_configured() {
    let strict = with(
        JwtConfig {
            issuer: Some("https://idp.example".into()),
            audience: Some("drift".into()),
            ..JwtConfig::default()
        },
        true,
    );
    let mut c = claims();
    let e = refusal(&strict, &hs(&c));
    assert!(
        e.contains("no iss claim") || e.contains("no aud claim"),
        "{e}"
    );
    c["iss"] = json!("https://idp.example");
    assert!(refusal(&strict, &hs(&c)).contains("aud"));
    c["aud"] = json!("other");
    assert!(refusal(&strict, &hs(&c)).contains("aud"));
    c["aud"] = json!(["other", "drift"]);
    auth(&strict, &hs(&c)).expect("both match");
    c["iss"] = json!("https://evil.example");
    let e = refusal(&strict, &hs(&c));
    assert!(e.contains("iss"), "{e}");
    // Without an audience configured, a token's aud does not matter.
    let mut c = claims();
    c["aud"] = json!("anyone");
    auth(&all(), &hs(&c)).expect("aud not checked");
}

#[test]
fn either_of_two_public_keys_verifies() {
    let a = with(JwtConfig::default(), false);
    auth(&a, &rs(RSA1, &claims())).expect("old key");
    auth(&a, &rs(RSA2, &claims())).expect("new key");
}

#[test]
fn garbage_is_refused_without_a_panic() {
    let a = all();
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9..",
        "%%%.%%%.%%%",
    ] {
        refusal(&a, token);
    }
    let token = forged(&json!({"alg": "HS512"}), &claims(), b"x");
    assert!(refusal(&a, &token).contains("HS512"));
    let mut c = claims();
    c["drift"] = json!({"publish": "news"});
    assert!(refusal(&a, &hs(&c)).contains("malformed claims"));
}

#[test]
fn no_token_gets_the_anonymous_grant() {
    let a = with(
        JwtConfig {
            anonymous: TopicPatterns::new(["public.*"]),
            ..JwtConfig::default()
        },
        true,
    );
    let g = a.authenticate(&Access::default()).unwrap();
    assert!(!g.authenticated);
    assert!(g.check(Action::Subscribe, "public.x").is_ok());
    assert_eq!(
        g.check(Action::Subscribe, "private").unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert!(a.describe().contains("public.*"), "{}", a.describe());
    let closed = all().authenticate(&Access::default()).unwrap();
    assert!(closed.check(Action::Subscribe, "x").is_err());
}

#[test]
fn verified_tokens_are_cached_until_they_expire() {
    let a = all();
    let token = hs(&claims());
    let first = auth(&a, &token).unwrap();
    let second = auth(&a, &token).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second came from the cache"
    );
    assert_eq!(a.cached_tokens(), 1);
    refusal(&a, "a.b.c");
    assert_eq!(a.cached_tokens(), 1, "refusals are not kept");
    let mut c = claims();
    c["exp"] = json!(now() + 1);
    let brief = hs(&c);
    auth(&a, &brief).expect("good for a second");
    std::thread::sleep(Duration::from_millis(2100));
    assert!(
        refusal(&a, &brief).contains("expired"),
        "the cache knows its end"
    );
}

#[test]
fn minted_tokens_verify() {
    let token = mint_hs256(
        secret(),
        &MintRequest {
            subject: Some("dev".into()),
            publish: vec!["a".into()],
            subscribe: vec!["*".into()],
            admin: vec!["a".into()],
            ttl: Some(Duration::from_secs(60)),
            ..MintRequest::default()
        },
    )
    .unwrap();
    let g = auth(&all(), &token).unwrap();
    assert_eq!(g.subject.as_deref(), Some("dev"));
    assert!(g.check(Action::Create, "a").is_ok());
    assert!(mint_hs256(b"short", &MintRequest::default()).is_err());
}

/// Every request carries the token whole (HTTP/2 never indexes
/// `authorization`), so a minted one holds only what a server reads.
#[test]
fn minted_tokens_carry_nothing_a_server_does_not_read() {
    let token = mint_hs256(
        secret(),
        &MintRequest {
            publish: vec!["bench*".into()],
            ttl: Some(Duration::from_secs(60)),
            ..MintRequest::default()
        },
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let part = |i: usize| -> Value {
        let text = b64.decode(token.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&text).unwrap()
    };
    assert_eq!(part(0), json!({"alg": "HS256"}));
    let claims = part(1);
    let mut names: Vec<_> = claims.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["drift", "exp"], "{claims}");
    assert_eq!(claims["drift"], json!({"publish": ["bench*"]}));
    let g = auth(&all(), &token).unwrap();
    assert!(g.check(Action::Publish, "bench1").is_ok());
    assert!(g.check(Action::Subscribe, "bench1").is_err());
}

#[test]
fn short_secrets_and_bad_key_files_are_refused() {
    assert!(JwtAuthenticator::new(Some(b"short"), &[], &JwtConfig::default()).is_err());
    let e = JwtAuthenticator::new(
        None,
        &[(b"junk".to_vec(), "k.pem".into())],
        &JwtConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("k.pem"), "{e}");
    assert!(JwtAuthenticator::new(None, &[], &JwtConfig::default()).is_err());
}
