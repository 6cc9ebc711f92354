//! RequestAuthentication: JWT verification, as Envoy's `jwt_authn` filter
//! does it for Istio.
//!
//! Each `jwtRules` entry is one issuer: where its tokens are looked for
//! (`fromHeaders`, `fromParams`, `fromCookies`; `Authorization: Bearer` and
//! `access_token` when none is named) and the keys that sign them (`jwks`
//! inline, or `jwksUri`, fetched on first use and kept five minutes). The
//! outcome follows Istio: no token anywhere passes with no request
//! principal (an AuthorizationPolicy decides); a token that does not verify
//! — unknown issuer, bad signature, expired, wrong audience, keys that
//! cannot be had — is refused with 401, so a failure never lets a forged
//! token through. A verified token gives [`RequestAuth`] (`<iss>/<sub>` and
//! the claims) to the layers below through the request's extensions.
//!
//! `jwksUri` is fetched over plain HTTP from loopback addresses only: a
//! key set anywhere else cannot be had here, and its issuer's tokens are
//! refused.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::model::{JwtRule, Object, RequestAuthentication};
use crate::svc::{Req, Resp};

/// What a verified token says, as AuthorizationPolicy and claim routes see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestAuth {
    /// `<iss>/<sub>`, Istio's request principal; None without `sub`.
    pub principal: Option<String>,
    /// The token's `aud`, one or many.
    pub audiences: Vec<String>,
    /// The token's `azp`.
    pub presenter: Option<String>,
    /// The whole payload.
    pub claims: Value,
    /// Top-level claims whose string value is a space-separated list.
    pub space_delimited: Vec<String>,
}

/// Claims Istio always reads as space-separated lists.
const SPACE_DELIMITED: &[&str] = &["scope", "permission"];

impl RequestAuth {
    fn from_claims(claims: Value, space_delimited: &[String]) -> Self {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let principal = match (text("iss"), text("sub")) {
            (Some(iss), Some(sub)) => Some(format!("{iss}/{sub}")),
            _ => None,
        };
        Self {
            principal,
            audiences: strings(claims.get("aud")),
            presenter: text("azp"),
            claims,
            space_delimited: SPACE_DELIMITED
                .iter()
                .map(|s| s.to_string())
                .chain(space_delimited.iter().cloned())
                .collect(),
        }
    }

    /// The strings of the claim at `path` (`["a", "b"]` for `a.b`): a string
    /// claim (split at spaces for `scope`, `permission` and
    /// `spaceDelimitedClaims`), or the string items of a list claim. Other
    /// claims give none, as Istio matches only string and string-list claims.
    pub fn claim_strings(&self, path: &[&str]) -> Vec<String> {
        let mut v = &self.claims;
        for key in path {
            match v.get(key) {
                Some(next) => v = next,
                None => return Vec::new(),
            }
        }
        match (path, v) {
            ([name], Value::String(s)) if self.space_delimited.iter().any(|d| d == name) => {
                s.split_whitespace().map(str::to_string).collect()
            }
            _ => strings(Some(v)),
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Where a rule looks for its token.
#[derive(Debug, Clone, PartialEq)]
enum Location {
    Header { name: String, prefix: String },
    Param(String),
    Cookie(String),
}

/// How long fetched keys are kept, as Envoy's default cache does.
const JWKS_CACHE: Duration = Duration::from_secs(300);
/// The most a key set may weigh.
const JWKS_MAX_BYTES: usize = 1 << 20;

#[derive(Debug)]
enum Keys {
    Inline(Result<Arc<JwkSet>, String>),
    Remote {
        uri: String,
        timeout: Duration,
        cache: Mutex<Option<(Instant, Arc<JwkSet>)>>,
    },
    Missing,
}

#[derive(Debug)]
struct Rule {
    issuer: String,
    audiences: Vec<String>,
    keys: Keys,
    locations: Vec<Location>,
    payload_header: Option<String>,
    claim_headers: Vec<(String, String)>,
    forward: bool,
    required: bool,
    space_delimited: Vec<String>,
}

impl Rule {
    fn new(r: &JwtRule) -> Self {
        let mut locations: Vec<Location> = r
            .from_headers
            .iter()
            .map(|h| Location::Header {
                name: h.name.to_ascii_lowercase(),
                prefix: h.prefix.clone().unwrap_or_default(),
            })
            .chain(r.from_params.iter().cloned().map(Location::Param))
            .chain(r.from_cookies.iter().cloned().map(Location::Cookie))
            .collect();
        if locations.is_empty() {
            locations = vec![
                Location::Header {
                    name: "authorization".into(),
                    prefix: "Bearer ".into(),
                },
                Location::Param("access_token".into()),
            ];
        }
        let keys = match (&r.jwks, &r.jwks_uri) {
            (Some(inline), _) => Keys::Inline(
                parse_jwks(inline.as_bytes())
                    .map(Arc::new)
                    .map_err(|e| format!("inline jwks: {e}")),
            ),
            (None, Some(uri)) => Keys::Remote {
                uri: uri.clone(),
                timeout: r.timeout.unwrap_or(Duration::from_secs(5)),
                cache: Mutex::new(None),
            },
            (None, None) => Keys::Missing,
        };
        Self {
            issuer: r.issuer.clone(),
            audiences: r.audiences.clone(),
            keys,
            locations,
            payload_header: r.output_payload_to_header.clone(),
            claim_headers: r
                .output_claim_to_headers
                .iter()
                .map(|c| (c.header.clone(), c.claim.clone()))
                .collect(),
            forward: r.forward_original_token,
            required: r.presence.as_deref() == Some("REQUIRED"),
            space_delimited: r.space_delimited_claims.clone(),
        }
    }

    async fn key_set(&self) -> Result<Arc<JwkSet>, String> {
        match &self.keys {
            Keys::Inline(k) => k.clone(),
            Keys::Missing => Err(format!(
                "issuer {} has neither jwks nor jwksUri, and meshcon does not discover keys",
                self.issuer
            )),
            Keys::Remote {
                uri,
                timeout,
                cache,
            } => {
                if let Some((at, set)) = cache.lock().as_ref() {
                    if at.elapsed() < JWKS_CACHE {
                        return Ok(Arc::clone(set));
                    }
                }
                let set = Arc::new(fetch_jwks(uri, *timeout).await?);
                *cache.lock() = Some((Instant::now(), Arc::clone(&set)));
                Ok(set)
            }
        }
    }
}

/// Parses a JSON Web Key Set.
pub fn parse_jwks(text: &[u8]) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWKS: {e}"))?;
    if set.keys.is_empty() {
        return Err("the key set has no keys".into());
    }
    Ok(set)
}

/// Whether meshcon may fetch `uri`: plain HTTP to a loopback address.
pub fn fetchable(uri: &str) -> Result<(), String> {
    let u: http::Uri = uri
        .parse()
        .map_err(|e| format!("'{uri}' is not a URL: {e}"))?;
    if u.scheme_str() != Some("http") {
        return Err(format!(
            "'{uri}': meshcon fetches keys over http:// from loopback only"
        ));
    }
    let host = u.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "'{uri}': meshcon fetches keys from loopback addresses only"
        ));
    }
    Ok(())
}

async fn fetch_jwks(uri: &str, timeout: Duration) -> Result<JwkSet, String> {
    fetchable(uri)?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let url: http::Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let work = async {
        let resp = client
            .get(url)
            .await
            .map_err(|e| format!("fetching {uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {uri}: status {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), JWKS_MAX_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading {uri}: {e}"))?
            .to_bytes();
        parse_jwks(&body).map_err(|e| format!("{uri}: {e}"))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("fetching {uri}: no answer in {timeout:?}"))?
}

/// The RequestAuthentications of one proxy, compiled.
#[derive(Debug, Default)]
pub struct Verifier {
    rules: Vec<Rule>,
}

/// Why a request was refused, Envoy's words first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What the client is told (`Jwt verification fails`).
    pub body: &'static str,
    /// What the operator is told.
    pub detail: String,
}

fn refused(body: &'static str, detail: impl Into<String>) -> Refused {
    Refused {
        body,
        detail: detail.into(),
    }
}

fn token_at(req: &Req, loc: &Location) -> Option<String> {
    match loc {
        Location::Header { name, prefix } => {
            let v = req.headers().get(name.as_str())?.to_str().ok()?.trim();
            // Envoy compares the prefix case-sensitively except `Bearer`.
            let rest = if prefix.is_empty() {
                v
            } else if v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix) {
                &v[prefix.len()..]
            } else {
                return None;
            };
            let t = rest.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Location::Param(name) => req.uri().query()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        }),
        Location::Cookie(name) => req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name && !v.is_empty()).then(|| v.to_string())
            }),
    }
}

/// The unverified issuer of a token, to pick the rule that checks it.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64_url(payload)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Decodes unpadded base64url (the JWT alphabet).
fn base64_url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Whether `jwk` is a key for `alg`: its type and curve, and its `alg`
/// when it names one.
fn alg_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::{AlgorithmParameters as P, EllipticCurve as C};
    use Algorithm as A;
    let by_type = match &jwk.algorithm {
        P::EllipticCurve(ec) => {
            matches!((&ec.curve, alg), (C::P256, A::ES256) | (C::P384, A::ES384))
        }
        P::RSA(_) => matches!(
            alg,
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
        ),
        P::OctetKey(_) => matches!(alg, A::HS256 | A::HS384 | A::HS512),
        P::OctetKeyPair(okp) => okp.curve == C::Ed25519 && alg == A::EdDSA,
    };
    let named = jwk
        .common
        .key_algorithm
        .is_none_or(|k| format!("{k:?}") == format!("{alg:?}"));
    by_type && named
}

impl Verifier {
    /// Compiles the RequestAuthentications that select a proxy.
    pub fn new(policies: &[Object<RequestAuthentication>]) -> Self {
        Self {
            rules: policies
                .iter()
                .flat_map(|p| p.spec.jwt_rules.iter().map(Rule::new))
                .collect(),
        }
    }

    /// Whether no RequestAuthentication selects the proxy.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Verifies the request's token. `Ok(None)`: there is none; `Ok(Some)`:
    /// it verified, and the request now carries what the rule outputs (and
    /// no longer the token, unless `forwardOriginalToken`).
    pub async fn verify(&self, req: &mut Req) -> Result<Option<RequestAuth>, Refused> {
        let mut found: Vec<(String, Location)> = Vec::new();
        for rule in &self.rules {
            for loc in &rule.locations {
                if let Some(t) = token_at(req, loc) {
                    if !found.iter().any(|(ft, fl)| *ft == t && fl == loc) {
                        found.push((t, loc.clone()));
                    }
                }
            }
        }
        if found.is_empty() {
            if self.rules.iter().any(|r| r.required) {
                return Err(refused(
                    "Jwt is missing",
                    "a jwtRules entry has presence: REQUIRED",
                ));
            }
            return Ok(None);
        }
        let mut first_error = None;
        for (token, loc) in &found {
            let issuer = unverified_issuer(token);
            let rules: Vec<&Rule> = self
                .rules
                .iter()
                .filter(|r| Some(&r.issuer) == issuer.as_ref() && r.locations.contains(loc))
                .collect();
            if rules.is_empty() {
                first_error.get_or_insert_with(|| {
                    refused(
                        "Jwt issuer is not configured",
                        format!(
                            "no jwtRules entry for issuer {}",
                            issuer.as_deref().unwrap_or("(none)")
                        ),
                    )
                });
                continue;
            }
            for rule in rules {
                match self.check(rule, token).await {
                    Ok(auth) => {
                        self.output(rule, token, loc, &auth, req);
                        return Ok(Some(auth));
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        Err(first_error.unwrap_or_else(|| refused("Jwt verification fails", "no rule verified")))
    }

    async fn check(&self, rule: &Rule, token: &str) -> Result<RequestAuth, Refused> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| refused("Jwt verification fails", format!("bad header: {e}")))?;
        let set = rule
            .key_set()
            .await
            .map_err(|e| refused("Jwks remote fetch is failed", e))?;
        let candidates: Vec<_> = match &header.kid {
            Some(kid) if set.find(kid).is_some() => set.find(kid).into_iter().collect(),
            _ => set.keys.iter().collect(),
        };
        // The token names its algorithm; only keys made for it may check it,
        // or a token "signed" with HS256 and a public key as the secret
        // would verify (algorithm confusion).
        let candidates: Vec<_> = candidates
            .into_iter()
            .filter(|k| alg_fits(k, header.alg))
            .collect();
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_nbf = true;
        // Audiences are checked below, Istio's way: any one in common.
        validation.validate_aud = false;
        validation.set_issuer(&[&rule.issuer]);
        let mut last = refused("Jwt verification fails", "no key of the set fits");
        for jwk in candidates {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match jsonwebtoken::decode::<Value>(token, &key, &validation) {
                Ok(data) => {
                    let auth = RequestAuth::from_claims(data.claims, &rule.space_delimited);
                    if !rule.audiences.is_empty()
                        && !auth.audiences.iter().any(|a| rule.audiences.contains(a))
                    {
                        return Err(refused(
                            "Audiences in Jwt are not allowed",
                            format!("aud {:?} is none of {:?}", auth.audiences, rule.audiences),
                        ));
                    }
                    return Ok(auth);
                }
                Err(e) => {
                    let body = match e.kind() {
                        ErrorKind::ExpiredSignature => "Jwt is expired",
                        ErrorKind::ImmatureSignature => "Jwt not yet valid",
                        _ => "Jwt verification fails",
                    };
                    last = refused(body, format!("issuer {}: {e}", rule.issuer));
                    if body != "Jwt verification fails" {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn output(&self, rule: &Rule, token: &str, loc: &Location, auth: &RequestAuth, req: &mut Req) {
        let headers = req.headers_mut();
        if !rule.forward {
            if let Location::Header { name, .. } = loc {
                headers.remove(name.as_str());
            }
        }
        let set = |headers: &mut http::HeaderMap, name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        };
        if let Some(h) = &rule.payload_header {
            // The payload as the token carries it: base64url JSON.
            set(headers, h, token.split('.').nth(1).unwrap_or_default());
        }
        for (h, claim) in &rule.claim_headers {
            let value = match auth.claims.get(claim) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => continue,
            };
            set(headers, h, &value);
        }
    }
}

/// Verifies `req`'s token: the request with its [`RequestAuth`], or the
/// 401 answer (Envoy's words, and a `www-authenticate` challenge) after
/// `refused` is told why, for the proxy's events.
pub async fn authenticate(
    verifier: &Verifier,
    mut req: Req,
    refused: impl FnOnce(String),
) -> Result<Req, Resp> {
    match verifier.verify(&mut req).await {
        Ok(Some(auth)) => {
            req.extensions_mut().insert(auth);
            Ok(req)
        }
        Ok(None) => Ok(req),
        Err(why) => {
            refused(format!(
                "{} {} refused: {} ({})",
                req.method(),
                req.uri().path(),
                why.body,
                why.detail
            ));
            let mut resp = crate::http::text_response(401, why.body);
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            Err(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    /// An ES256 key pair: the signing key and its JWKS.
    fn keys() -> (EncodingKey, String) {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let raw = kp.public_key_raw();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}]});
        (
            EncodingKey::from_ec_der(&kp.serialize_der()),
            jwks.to_string(),
        )
    }

    fn sign(key: &EncodingKey, claims: Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        encode(&h, &claims, key).expect("sign")
    }

    fn verifier(jwks: &str, extra: &str) -> Verifier {
        let yaml = format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt}}\nspec:\n  jwtRules:\n  - issuer: testing@secure.istio.io\n    jwks: '{jwks}'\n{extra}"
        );
        let doc = crate::yaml::parse_one(&yaml).expect("yaml");
        let ra: Object<RequestAuthentication> = serde_json::from_value(doc.value).expect("ra");
        Verifier::new(&[ra])
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> Value {
        json!({"iss": "testing@secure.istio.io", "sub": "alice", "aud": "billing",
            "exp": now() + 600, "group": "beta", "nested": {"team": ["a", "b"]}})
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> Req {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::new()).expect("request")
    }

    async fn run(v: &Verifier, mut r: Req) -> (Result<Option<RequestAuth>, Refused>, Req) {
        let out = v.verify(&mut r).await;
        (out, r)
    }

    #[tokio::test]
    async fn a_valid_token_gives_the_principal_and_claims_and_is_removed() {
        let (key, jwks) = keys();
        let v = verifier(&jwks, "");
        let t = sign(&key, claims());
        let (out, r) = run(&v, req("/", &[("authorization", &format!("Bearer {t}"))])).await;
        let auth = out.expect("verified").expect("a token");
        assert_eq!(
            auth.principal.as_deref(),
            Some("testing@secure.istio.io/alice")
        );
        assert_eq!(auth.audiences, vec!["billing".to_string()]);
        assert_eq!(auth.claim_strings(&["group"]), vec!["beta".to_string()]);
        assert_eq!(auth.claim_strings(&["nested", "team"]).len(), 2);
        assert!(
            r.headers().get("authorization").is_none(),
            "not forwarded by default"
        );
    }

    #[tokio::test]
    async fn no_token_passes_without_a_principal() {
        let (_, jwks) = keys();
        let (out, _) = run(&verifier(&jwks, ""), req("/", &[])).await;
        assert_eq!(out, Ok(None));
    }

    #[tokio::test]
    async fn expired_wrong_issuer_wrong_audience_and_forged_tokens_are_refused() {
        let (key, jwks) = keys();
        let v = verifier(&jwks, "    audiences: [billing]\n");
        let bearer = |t: String| req("/", &[("authorization", &format!("Bearer {t}"))]);
        let mut expired = claims();
        expired["exp"] = json!(now() - 3600);
        let (out, _) = run(&v, bearer(sign(&key, expired))).await;
        assert_eq!(out.expect_err("expired").body, "Jwt is expired");
        let mut other = claims();
        other["iss"] = json!("someone@else");
        let (out, _) = run(&v, bearer(sign(&key, other))).await;
        assert_eq!(
            out.expect_err("issuer").body,
            "Jwt issuer is not configured"
        );
        let mut aud = claims();
        aud["aud"] = json!(["catalog"]);
        let (out, _) = run(&v, bearer(sign(&key, aud))).await;
        assert_eq!(
            out.expect_err("audience").body,
            "Audiences in Jwt are not allowed"
        );
        let (forger, _) = keys();
        let (out, _) = run(&v, bearer(sign(&forger, claims()))).await;
        assert_eq!(out.expect_err("forged").body, "Jwt verification fails");
        let (out, _) = run(&v, bearer("not.a.jwt".into())).await;
        assert!(out.is_err(), "garbage is refused");
        // Algorithm confusion: HS256 keyed with the public key's bytes.
        let jwk: Value = serde_json::from_str(&jwks).expect("jwks");
        let coord =
            |c: &str| base64_url(jwk["keys"][0][c].as_str().expect("coordinate")).expect("b64");
        // The bytes the library keys an EC public key with: 0x04 || x || y.
        let public = [vec![4u8], coord("x"), coord("y")].concat();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        let hs = encode(&h, &claims(), &EncodingKey::from_secret(&public));
        let (out, _) = run(&v, bearer(hs.expect("sign"))).await;
        assert_eq!(out.expect_err("confused").body, "Jwt verification fails");
        // An unsigned token.
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims().to_string().as_bytes())
        );
        let (out, _) = run(&v, bearer(none)).await;
        assert!(out.is_err(), "alg none is refused");
    }

    #[tokio::test]
    async fn from_headers_with_prefix_and_from_params() {
        let (key, jwks) = keys();
        let t = sign(&key, claims());
        let v = verifier(
            &jwks,
            "    fromHeaders:\n    - {name: x-jwt-assertion, prefix: 'Token '}\n    fromParams: [my_token]\n    forwardOriginalToken: true\n    outputPayloadToHeader: x-jwt-payload\n    outputClaimToHeaders:\n    - {header: x-group, claim: group}\n",
        );
        let (out, r) = run(&v, req("/", &[("x-jwt-assertion", &format!("Token {t}"))])).await;
        assert!(out.expect("verified").is_some());
        assert!(r.headers().get("x-jwt-assertion").is_some(), "forwarded");
        assert_eq!(r.headers()["x-group"], "beta");
        let payload = r.headers()["x-jwt-payload"].to_str().expect("ascii");
        let decoded: Value =
            serde_json::from_slice(&base64_url(payload).expect("b64")).expect("json");
        assert_eq!(decoded["sub"], "alice");
        let (out, _) = run(&v, req(&format!("/?a=1&my_token={t}"), &[])).await;
        assert!(out.expect("verified").is_some());
        // The default location is not searched when others are named.
        let (out, _) = run(&v, req("/", &[("authorization", &format!("Bearer {t}"))])).await;
        assert_eq!(out, Ok(None));
        // Without the prefix the header holds no token for this rule.
        let (out, _) = run(&v, req("/", &[("x-jwt-assertion", &t)])).await;
        assert_eq!(out, Ok(None));
    }

    #[tokio::test]
    async fn required_presence_and_space_delimited_claims() {
        let (key, jwks) = keys();
        let v = verifier(
            &jwks,
            "    presence: REQUIRED\n    spaceDelimitedClaims: [roles]\n",
        );
        let (out, _) = run(&v, req("/", &[])).await;
        assert_eq!(out.expect_err("missing").body, "Jwt is missing");
        let mut c = claims();
        c["scope"] = json!("read write");
        c["roles"] = json!("admin ops");
        c["group"] = json!("beta gamma");
        let t = sign(&key, c);
        let (out, _) = run(&v, req("/", &[("authorization", &format!("Bearer {t}"))])).await;
        let auth = out.expect("verified").expect("a token");
        assert_eq!(auth.claim_strings(&["scope"]), vec!["read", "write"]);
        assert_eq!(auth.claim_strings(&["roles"]), vec!["admin", "ops"]);
        assert_eq!(auth.claim_strings(&["group"]), vec!["beta gamma"]);
    }

    #[test]
    fn only_loopback_http_key_sets_are_fetched() {
        assert!(fetchable("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(fetchable("http://localhost/jwks").is_ok());
        assert!(fetchable("http://[::1]:9/jwks").is_ok());
        assert!(fetchable("https://raw.githubusercontent.com/x/jwks.json").is_err());
        assert!(fetchable("http://10.0.0.1/jwks").is_err());
    }
}
