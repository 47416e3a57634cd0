//! A test gateway on its own mutual-TLS listener: a test CA, the gateway's server certificate
//! (for 127.0.0.1 and any further names), and `test-editeur` registered by a client
//! certificate of that CA, so providers' clients authenticate as they do at the real GAR.

use crate::support::gateway::*;
use crate::support::pki::{issue, issue_server, Issued};

pub struct TlsGateway {
    pub gw: TestGateway,
    pub addr: std::net::SocketAddr,
    /// The CA of the server's and the clients' certificates.
    pub ca: Issued,
    /// `test-editeur`'s registered client certificate.
    pub provider: Issued,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TlsGateway {
    /// Starts the listener; the server certificate also names `names` (DNS).
    pub async fn start(names: &[&str]) -> Self {
        let ca = issue("TEST client and server CA", None, "ca", 1);
        let server = issue_server("gateway", &ca, 2, names);
        let provider = issue("provider servers", Some(&ca), "client", 3);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let var = |k: &str, v: String| (format!("PASSERELLE__{k}"), v);
        let gw = TestGateway::with(Options {
            files: vec![
                ("tls.crt".into(), server.cert_pem()),
                (
                    "tls.key".into(),
                    server.key.private_key_to_pem_pkcs8().unwrap(),
                ),
                ("client-ca.crt".into(), ca.cert_pem()),
                ("provider-client.crt".into(), provider.cert_pem()),
            ],
            vars: vec![
                var("SERVER__TLS__LISTEN", addr.to_string()),
                var("SERVER__TLS__CERTIFICATE_FILE", "tls.crt".into()),
                var("SERVER__TLS__KEY_FILE", "tls.key".into()),
                var("SERVER__TLS__CLIENT_CA_FILE", "client-ca.crt".into()),
                var(
                    "PROVIDERS__TEST-EDITEUR__CLIENT_CERTIFICATE_FILE",
                    "provider-client.crt".into(),
                ),
            ],
            ..Options::default()
        })
        .await;
        let tls = gw.state.config.tls.clone().expect("TLS configured");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(passerelle::http::tls::serve_tls(
            listener,
            tls.server,
            gw.state.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            gw,
            addr,
            ca,
            provider,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `https://127.0.0.1:<port>/`.
    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}/", self.addr.port())
    }

    /// Stops the listener and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}
