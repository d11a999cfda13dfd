//! `bare302 ADDR`: the baseline of `scripts/bench-redirect`. Axum 0.8 on a multi-threaded tokio
//! runtime (like `linkledger serve`) answering every `GET /{code}` with the same `302`: no
//! lookup, no click, no storage. Stops on SIGINT.

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .ok_or("usage: bare302 127.0.0.1:PORT")?
        .parse()?;
    let app = Router::new().route("/{code}", get(redirect));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("bare302 serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
