//! TLS session resumption that never outlives the trust it was verified
//! under.
//!
//! A resumed TLS 1.3 handshake carries no certificates, so neither SPIFFE
//! verifier runs on it: a session kept across a trust-bundle change would let
//! a peer in (or a server be believed) that the new bundles no longer trust.
//! Sessions are therefore kept per generation of the [`TrustStore`]'s roots
//! (a generation ends when a root is removed) and for at most
//! [`SESSION_MAX_AGE`]; after `unfederate` or a retired root every peer goes
//! through a full, verified handshake again. Resuming, checks included,
//! saves about 15% of a new connection's CPU (docs/performance.md).
//!
//! A handshake verified just before a change and finished just after it may
//! still store its session in the new generation. A server stores its
//! sessions during the handshake (bounded by the listener's handshake
//! timeout), so inbound proxies check a resumed client's chain again only
//! until every cache that could hold such a session has ended
//! ([`may_straddle_a_change`]). A client stores whatever tickets arrive,
//! whenever they arrive, even on a connection made under roots since
//! removed, so the upstream pool checks every resumed server's chain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore};
use rustls::pki_types::ServerName;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::{HandshakeKind, NamedGroup};

use super::{IdentityError, TrustStore};

/// The longest a session is resumed after its full handshake.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(300);

/// Sessions kept per store (rustls's default).
const SESSIONS: usize = 256;

/// Whether a server-side session resumed now may come from a handshake that
/// straddled the last removal of a root. A cache's epoch begins at its first
/// use after the change and lasts [`SESSION_MAX_AGE`], and a handshake lasts
/// at most the listener's handshake timeout (seconds), so twice that age is
/// a safe bound.
pub fn may_straddle_a_change(trust: &TrustStore) -> bool {
    trust.changed_within(2 * SESSION_MAX_AGE)
}

/// A session cache that starts empty whenever a root is removed or it gets
/// older than [`SESSION_MAX_AGE`].
struct Scoped<T> {
    trust: Arc<TrustStore>,
    make: fn() -> Arc<T>,
    epoch: Mutex<Epoch<T>>,
}

struct Epoch<T> {
    generation: u64,
    started: Instant,
    cache: Arc<T>,
}

impl<T> Scoped<T> {
    fn new(trust: Arc<TrustStore>, make: fn() -> Arc<T>) -> Self {
        let epoch = Epoch {
            generation: trust.generation(),
            started: Instant::now(),
            cache: make(),
        };
        Self {
            trust,
            make,
            epoch: Mutex::new(epoch),
        }
    }

    /// The cache for the roots in force now.
    fn current(&self) -> Arc<T> {
        let mut epoch = self.epoch.lock();
        // Read under the lock, so a reader that saw an older generation
        // cannot switch the cache back to it.
        let generation = self.trust.generation();
        if epoch.generation != generation || epoch.started.elapsed() >= SESSION_MAX_AGE {
            *epoch = Epoch {
                generation,
                started: Instant::now(),
                cache: (self.make)(),
            };
        }
        Arc::clone(&epoch.cache)
    }
}

impl<T> std::fmt::Debug for Scoped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let epoch = self.epoch.lock();
        f.debug_struct("Scoped")
            .field("generation", &epoch.generation)
            .field("age", &epoch.started.elapsed())
            .finish()
    }
}

/// Checks a client connection's server against the roots in force when its
/// session was resumed (a client stores tickets whenever they arrive, also
/// on a connection made under roots since removed) or when a root was
/// removed during the handshake (`before`: the generation when it began).
/// Returns the generation the server now stands verified under.
pub fn check_server(
    conn: &rustls::ClientConnection,
    trust: &TrustStore,
    before: u64,
) -> Result<u64, IdentityError> {
    let now = trust.generation();
    if conn.handshake_kind() == Some(HandshakeKind::Resumed) || now != before {
        let chain = conn.peer_certificates().unwrap_or_default();
        trust.verify_chain(chain, webpki::KeyUsage::server_auth())?;
    }
    Ok(now)
}

/// Checks a server connection's client against the roots in force when its
/// session was resumed soon after a root was removed (only a handshake that
/// straddled the removal can have stored one, see [`may_straddle_a_change`])
/// or when `roots_removed` during this handshake.
pub fn check_client(
    conn: &rustls::ServerConnection,
    trust: &TrustStore,
    roots_removed: bool,
) -> Result<(), IdentityError> {
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    if roots_removed || (resumed && may_straddle_a_change(trust)) {
        let chain = conn.peer_certificates().unwrap_or_default();
        trust.verify_chain(chain, webpki::KeyUsage::client_auth())?;
    }
    Ok(())
}

/// Server-side sessions (inbound mTLS), scoped to `trust`.
pub fn server_sessions(trust: Arc<TrustStore>) -> Arc<dyn StoresServerSessions> {
    Arc::new(ServerSessions(Scoped::new(trust, || {
        ServerSessionMemoryCache::new(SESSIONS)
    })))
}

/// Client-side sessions (outbound mTLS), scoped to `trust`.
pub fn client_sessions(trust: Arc<TrustStore>) -> Arc<dyn ClientSessionStore> {
    Arc::new(ClientSessions(Scoped::new(trust, || {
        Arc::new(ClientSessionMemoryCache::new(SESSIONS))
    })))
}

#[derive(Debug)]
struct ServerSessions(Scoped<ServerSessionMemoryCache>);

impl StoresServerSessions for ServerSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.current().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.current().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.current().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct ClientSessions(Scoped<ClientSessionMemoryCache>);

impl ClientSessionStore for ClientSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.current().set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.current().kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.0.current().set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.0.current().tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.current().remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.0.current().insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.0.current().take_tls13_ticket(server_name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls::HandshakeKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::identity::{tls, CertificateAuthority, SpiffeId, Svid, TrustSet, WorkloadIdentity};

    fn identity(ca: &CertificateAuthority, id: &SpiffeId) -> Arc<WorkloadIdentity> {
        let (csr, key) = crate::identity::svid::make_csr().expect("csr");
        let issued = ca
            .sign_csr(&csr, id, Duration::from_secs(600))
            .expect("signed");
        let w = WorkloadIdentity::new();
        w.install(Svid::from_parts(issued.chain_pem, key).expect("svid"));
        w
    }

    fn trusting(cas: &[&CertificateAuthority]) -> TrustSet {
        TrustSet::from_pem(cas.iter().map(|ca| {
            (
                ca.trust_domain().expect("a SPIFFE CA").to_string(),
                vec![ca.root_pem().to_string()],
            )
        }))
        .expect("trust set")
    }

    /// Two workloads in two trust domains that trust each other, each with
    /// its own store, as two sidecars have.
    struct Pair {
        eu: CertificateAuthority,
        us: CertificateAuthority,
        server_trust: Arc<TrustStore>,
        client_trust: Arc<TrustStore>,
        acceptor: tokio_rustls::TlsAcceptor,
        connector: tokio_rustls::TlsConnector,
    }

    impl Pair {
        fn new() -> Self {
            let eu = CertificateAuthority::generate("eu.mesh").expect("ca");
            let us = CertificateAuthority::generate("us.mesh").expect("ca");
            let billing = SpiffeId::workload("us.mesh", "default", "billing").expect("id");
            let user = SpiffeId::workload("eu.mesh", "default", "user").expect("id");
            let server_trust = Arc::new(TrustStore::new(trusting(&[&eu, &us])));
            let client_trust = Arc::new(TrustStore::new(trusting(&[&eu, &us])));
            let server =
                tls::inbound_server_config(identity(&us, &billing), Arc::clone(&server_trust))
                    .expect("server config");
            let client = tls::outbound_client_config(
                identity(&eu, &user),
                Arc::clone(&client_trust),
                vec![billing],
            )
            .expect("client config");
            Self {
                eu,
                us,
                server_trust,
                client_trust,
                acceptor: server.into(),
                connector: client.into(),
            }
        }

        /// One connection over loopback: how the client's handshake went
        /// (after reading the server's first bytes, which carry the session
        /// tickets) and whether the server accepted the client.
        async fn connect(&self) -> (Result<HandshakeKind, String>, Result<(), String>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let acceptor = self.acceptor.clone();
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
                tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
                tls.shutdown().await.map_err(|e| e.to_string())
            });
            let client = async {
                let tcp = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let name = ServerName::try_from("billing.default.svc.cluster.local")
                    .map_err(|e| e.to_string())?;
                let mut tls = self
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut buf = Vec::new();
                tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
                if buf != b"ok" {
                    return Err(format!("read {buf:?}"));
                }
                tls.get_ref()
                    .1
                    .handshake_kind()
                    .ok_or("no handshake".into())
            };
            let client = client.await;
            let server = server.await.expect("server task");
            (client, server)
        }
    }

    #[tokio::test]
    async fn a_second_connection_resumes_while_the_roots_stay() {
        let p = Pair::new();
        let (first, accepted) = p.connect().await;
        assert_eq!(first, Ok(HandshakeKind::Full));
        assert_eq!(accepted, Ok(()));
        // The same bundles pushed again (every config push does) keep the sessions.
        p.server_trust.replace(trusting(&[&p.eu, &p.us]));
        p.client_trust.replace(trusting(&[&p.us, &p.eu]));
        let (second, accepted) = p.connect().await;
        assert_eq!(second, Ok(HandshakeKind::Resumed));
        assert_eq!(accepted, Ok(()));
    }

    #[test]
    fn sessions_are_checked_again_only_for_a_while_after_the_roots_change() {
        let p = Pair::new();
        assert!(!may_straddle_a_change(&p.server_trust), "never changed");
        let fresh = TrustStore::default();
        fresh.replace(trusting(&[&p.us]));
        assert!(
            !may_straddle_a_change(&fresh),
            "the first roots after none: nothing was verified before"
        );
        p.server_trust.replace(trusting(&[&p.us, &p.eu]));
        assert!(!may_straddle_a_change(&p.server_trust), "same roots again");
        let extra = CertificateAuthority::generate("mars.mesh").expect("ca");
        p.server_trust.replace(trusting(&[&p.us, &p.eu, &extra]));
        assert!(!may_straddle_a_change(&p.server_trust), "a root added");
        assert_eq!(
            p.server_trust.generation(),
            0,
            "additions keep the generation"
        );
        p.server_trust.replace(trusting(&[&p.us]));
        assert!(may_straddle_a_change(&p.server_trust), "roots changed");
        p.server_trust.replace(trusting(&[&p.us]));
        assert!(
            may_straddle_a_change(&p.server_trust),
            "a push of the same roots keeps the time of the change"
        );
    }

    /// A ticket read after the client stopped trusting its server (on a
    /// connection made before) lands in the cache of the new roots, and
    /// resuming with it runs no verifier: `check_server` must refuse it.
    #[tokio::test]
    async fn a_ticket_that_arrives_after_a_root_is_removed_is_refused_on_resumption() {
        let p = Pair::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = p.acceptor.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.write_all(b"ok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        let name = || ServerName::try_from("billing.default.svc.cluster.local").expect("name");
        let dial = || async {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            p.connector.connect(name(), tcp).await
        };
        // The handshake is done; the server's tickets wait unread.
        let mut first = dial().await.expect("full handshake");
        assert_eq!(
            first.get_ref().1.handshake_kind(),
            Some(HandshakeKind::Full)
        );
        p.client_trust.replace(trusting(&[&p.eu]));
        let mut buf = Vec::new();
        first.read_to_end(&mut buf).await.expect("read");

        let second = dial().await.expect("resumed");
        assert_eq!(
            second.get_ref().1.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "resumed with no verifier: what the check is for"
        );
        let now = p.client_trust.generation();
        let refused = check_server(second.get_ref().1, &p.client_trust, now)
            .expect_err("the server's root was removed");
        assert!(refused.to_string().contains("us.mesh"), "{refused}");
    }

    /// A client verified by a full handshake is checked again only when a
    /// root was removed during that handshake.
    #[tokio::test]
    async fn check_client_refuses_a_client_whose_root_went_during_the_handshake() {
        let p = Pair::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = {
            let connector = p.connector.clone();
            tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let name = ServerName::try_from("billing.default.svc.cluster.local").expect("name");
                let mut tls = connector.connect(name, tcp).await.expect("handshake");
                let mut buf = Vec::new();
                let _ = tls.read_to_end(&mut buf).await;
            })
        };
        let (tcp, _) = listener.accept().await.expect("accept");
        let server = p.acceptor.accept(tcp).await.expect("handshake");
        let conn = server.get_ref().1;
        p.server_trust.replace(trusting(&[&p.us]));
        assert!(
            check_client(conn, &p.server_trust, false).is_ok(),
            "not asked"
        );
        let refused = check_client(conn, &p.server_trust, true).expect_err("eu's root went");
        assert!(refused.to_string().contains("eu.mesh"), "{refused}");
        drop(server);
        let _ = client.await;
    }

    #[tokio::test]
    async fn a_server_that_stops_trusting_the_client_does_not_resume_its_session() {
        let p = Pair::new();
        assert_eq!(p.connect().await.1, Ok(()));
        p.server_trust.replace(trusting(&[&p.us]));
        let (_, accepted) = p.connect().await;
        let refused = accepted.expect_err("the client's CA is no longer trusted");
        assert!(refused.contains("eu.mesh"), "{refused}");
    }

    #[tokio::test]
    async fn a_client_that_stops_trusting_the_server_does_not_resume_its_session() {
        let p = Pair::new();
        assert_eq!(p.connect().await.0, Ok(HandshakeKind::Full));
        p.client_trust.replace(trusting(&[&p.eu]));
        let (handshake, _) = p.connect().await;
        let refused = handshake.expect_err("the server's CA is no longer trusted");
        assert!(refused.contains("us.mesh"), "{refused}");
    }
}
