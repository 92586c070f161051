//! The transport ceiling: the smallest hyper HTTP/1.1 server that reads a
//! request's whole body and answers 200 with a small JSON body. Run in its
//! own process (`peer-bench baseline-server`) so that its CPU time is read
//! the same way as peerd's.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves on 127.0.0.1 (an OS-chosen port) until killed; prints
/// `listening on http://ADDR` first on stdout.
pub(crate) async fn serve() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                // Read the body like a real handler would.
                let body = req.into_body().collect().await.map(|b| b.to_bytes());
                let status = if body.is_ok() { 200 } else { 400 };
                let resp = hyper::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(br#"{"seq":1}"#)))
                    .unwrap_or_default();
                Ok::<_, Infallible>(resp)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
