//! `bare302 ADDR`: the baseline of `scripts/bench-redirect` and `scripts/bench-ingest`. Axum 0.8
//! on a multi-threaded tokio runtime (like `linkledger serve`) answering every `GET /{code}` with
//! the same `302`, and every `POST` (a webhook) by reading its body and answering `200 {}`: no
//! lookup, no signature, no storage. Stops on SIGINT.

use std::net::SocketAddr;

use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

const DESTINATION: &str = "https://shop.example.com/p";

async fn redirect() -> (StatusCode, [(axum::http::HeaderName, &'static str); 2]) {
    (
        StatusCode::FOUND,
        [(LOCATION, DESTINATION), (CACHE_CONTROL, "no-store")],
    )
}

async fn accept(body: axum::body::Bytes) -> (StatusCode, &'static str) {
    std::hint::black_box(body.len());
    (StatusCode::OK, "{}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .ok_or("usage: bare302 127.0.0.1:PORT")?
        .parse()?;
    let app = Router::new()
        .route("/{code}", get(redirect))
        .fallback(accept);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("bare302 serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
