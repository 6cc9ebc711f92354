//! RequestAuthentication with real signed tokens, as istio.io's JWT tasks
//! run it: at a service (no token → 403 from an AuthorizationPolicy that
//! wants a request principal, a forged or expired token → 401, a valid one
//! → 200) and at the ingress gateway (routing by a claim, keys fetched from
//! a `jwksUri` on loopback, a policy on the gateway requiring a token).

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, apply, outbound_of, request, version_of};

const ISSUER: &str = "testing@secure.istio.io";

/// Unpadded base64url, the JWK alphabet.
fn b64url(bytes: &[u8]) -> String {
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

/// An issuer's ES256 key: what signs its tokens and its JWKS.
struct Issuer {
    key: EncodingKey,
    jwks: String,
}

impl Issuer {
    fn new() -> Self {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let raw = kp.public_key_raw();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "kid": "test-key", "x": b64url(&raw[1..33]), "y": b64url(&raw[33..65])}]});
        Self {
            key: EncodingKey::from_ec_der(&kp.serialize_der()),
            jwks: jwks.to_string(),
        }
    }

    /// A token for `sub` with extra claims, valid for an hour unless `exp`
    /// is among them.
    fn token(&self, sub: &str, extra: Value) -> String {
        let mut claims = json!({"iss": ISSUER, "sub": sub,
            "exp": jsonwebtoken::get_current_timestamp() + 3600});
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("test-key".into());
        encode(&h, &claims, &self.key).expect("sign")
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_refuses_missing_and_forged_tokens_and_serves_valid_ones() {
    let m = support::demo().await;
    let issuer = Issuer::new();
    let reply = apply(
        &m,
        &format!(
            "
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: billing-jwt, namespace: default}}
spec:
  selector: {{matchLabels: {{app: billing}}}}
  jwtRules:
  - issuer: {ISSUER}
    jwks: '{}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: default}}
spec:
  selector: {{matchLabels: {{app: billing}}}}
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ['{ISSUER}/*']
",
            issuer.jwks
        ),
    )
    .await;
    assert!(reply.applied, "{:?}", reply.findings);
    assert!(reply.nacks.is_empty(), "{:?}", reply.nacks);
    let user = outbound_of(&m, "user-v1-0").await;

    // No token: RequestAuthentication lets it pass, without a request
    // principal, and the policy that wants one refuses it.
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("RBAC"), "{}", r.body);

    // Signed by a key the JWKS does not hold.
    let forged = Issuer::new().token("mallory", json!({}));
    let r = request(
        &user,
        "billing",
        "/",
        &[("authorization", &bearer(&forged))],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Jwt verification fails"), "{}", r.body);

    // The right key, but expired.
    let expired = issuer.token("alice", json!({"exp": 1_000_000_000}));
    let r = request(
        &user,
        "billing",
        "/",
        &[("authorization", &bearer(&expired))],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Jwt is expired"), "{}", r.body);

    // A tampered payload no longer matches its signature.
    let valid = issuer.token("alice", json!({}));
    let mut parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    parts[1] = b64url(
        json!({"iss": ISSUER, "sub": "admin", "exp": 4_000_000_000u64})
            .to_string()
            .as_bytes(),
    );
    let tampered = parts.join(".");
    let r = request(
        &user,
        "billing",
        "/",
        &[("authorization", &bearer(&tampered))],
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);

    let r = request(&user, "billing", "/", &[("authorization", &bearer(&valid))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    m.stop().await;
}

/// Serves `body` as JSON to every request on 127.0.0.1, like an issuer's
/// JWKS endpoint; stops with the test.
async fn serve_jwks(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/jwks.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingress_routes_by_a_verified_claim_with_keys_from_a_jwks_uri() {
    let m = support::demo().await;
    let issuer = Issuer::new();
    let jwks_uri = serve_jwks(issuer.jwks.clone()).await;
    // istio.io's claim-based routing task, on the demo's billing service.
    let reply = apply(
        &m,
        &format!(
            "
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: ingress-jwt, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  jwtRules:
  - issuer: {ISSUER}
    jwksUri: {jwks_uri}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: shop, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: billing, namespace: default}}
spec:
  host: billing
  subsets:
  - name: v1
    labels: {{version: v1}}
  - name: v2
    labels: {{version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: default}}
spec:
  hosts: [shop.example.com]
  gateways: [shop]
  http:
  - match:
    - headers:
        '@request.auth.claims.group':
          exact: group1
    route:
    - destination: {{host: billing, subset: v2}}
  - route:
    - destination: {{host: billing, subset: v1}}
"
        ),
    )
    .await;
    assert!(reply.applied, "{:?}", reply.findings);
    assert!(
        !reply.findings.iter().any(|f| f.code == "IST0149"),
        "the RequestAuthentication on the gateway makes the claims available: {:?}",
        reply.findings
    );
    let client = m.mesh.ingress_client().expect("ingress client");
    let get = |headers: Vec<(&'static str, String)>| {
        let client = &client;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let a = client.get("/", &h).await.expect("answer");
            (a.status, String::from_utf8_lossy(&a.body).to_string())
        }
    };

    let group1 = issuer.token("alice", json!({"group": "group1"}));
    for _ in 0..5 {
        let (status, body) = get(vec![("authorization", bearer(&group1))]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(version_of(&body), "v2", "group1 goes to the canary: {body}");
    }
    let group2 = issuer.token("bob", json!({"group": "group2"}));
    let (status, body) = get(vec![("authorization", bearer(&group2))]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(version_of(&body), "v1", "{body}");
    // No token: no claims, so the claim route does not match.
    let (status, body) = get(vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(version_of(&body), "v1", "{body}");
    // A forged token claiming group1 is refused before routing.
    let forged = Issuer::new().token("mallory", json!({"group": "group1"}));
    let (status, body) = get(vec![("authorization", bearer(&forged))]).await;
    assert_eq!(status, 401, "{body}");
    // A header that looks like the claim is not the claim.
    let (status, body) = get(vec![("group", "group1".into())]).await;
    assert_eq!((status, version_of(&body).as_str()), (200, "v1"), "{body}");

    // istio.io's "require a valid token" at the ingress: a policy on the
    // gateway that wants a request principal refuses requests without one.
    let reply = apply(
        &m,
        "
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: frontend-ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ['*']
",
    )
    .await;
    assert!(reply.applied, "{:?}", reply.findings);
    let (status, body) = get(vec![]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("RBAC"), "{body}");
    let (status, body) = get(vec![("authorization", bearer(&group1))]).await;
    assert_eq!((status, version_of(&body).as_str()), (200, "v2"), "{body}");
    m.stop().await;
}
