//! A rogue workload: what an attacker inside the network could try.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::identity::{tls, verify, SpiffeId, Svid, TrustStore, WorkloadIdentity};

/// Sends a plaintext request; says what came back.
pub async fn plaintext(addr: SocketAddr) -> String {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await?;
        Ok::<_, std::io::Error>(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        )
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(line)) if line.is_empty() => "REFUSED (connection closed without an answer)".into(),
        Ok(Ok(line)) => format!("ACCEPTED: {line}"),
        Ok(Err(e)) => format!("REFUSED ({e})"),
        Err(_) => "REFUSED (no answer)".into(),
    }
}

/// Tries mTLS with a self-signed SVID; says what happened.
pub async fn self_signed(addr: SocketAddr, claimed: &SpiffeId) -> String {
    let made =
        tls::self_signed_svid(claimed).and_then(|(cert, key)| Svid::from_parts(vec![cert], key));
    let svid = match made {
        Ok(s) => s,
        Err(e) => return format!("could not make the certificate: {e}"),
    };
    let ident = WorkloadIdentity::new();
    ident.install(svid);
    // The rogue does not care who the server is.
    let trust = Arc::new(TrustStore::default());
    let cfg = match tls::outbound_client_config(ident, trust, Vec::new()) {
        Ok(c) => c,
        Err(e) => return format!("TLS setup failed: {e}"),
    };
    let mut cfg = (*cfg).clone();
    cfg.dangerous()
        .set_certificate_verifier(Arc::new(verify::AcceptAnyServer::new()));
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("rogue.invalid")
            .map_err(std::io::Error::other)?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        let mut buf = vec![0u8; 64];
        let n = tls.read(&mut buf).await?;
        Ok::<_, std::io::Error>(n)
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(0)) => "REFUSED (the sidecar closed the connection)".into(),
        Ok(Ok(_)) => "ACCEPTED — mTLS is not enforced!".into(),
        Ok(Err(e)) => format!("REFUSED ({e})"),
        Err(_) => "REFUSED (no answer)".into(),
    }
}
