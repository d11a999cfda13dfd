//! The page frame (header, navigation, sign-out), notices, and the small pieces every page uses.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use time::OffsetDateTime;

use linkledger_core::money::Money;

use super::session::Viewer;

/// What a page says after an action: done, or why not.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    Done(String),
    Error(String),
}

/// The pages' policy: our own script and style only, no framing, forms post to us only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page answer: HTML, never cached (it shows private figures), with the security headers.
pub(crate) fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

pub(crate) fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · linkledger" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href="/dashboard/assets/app.css";
            script src="/dashboard/assets/app.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header class="top" { a class="brand" href="/dashboard" { "linkledger" } }
                main id="main" { (body) }
            }
        }
    }
}

/// An error page with its status.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    html(
        status,
        bare(
            title,
            html! {
                h1 { (title) }
                div class="notice error" role="alert" { p { (message) } }
                p { a href="/dashboard" { "Back to the dashboard" } }
            },
        ),
    )
}

const BRAND_NAV: &[(&str, &str)] = &[
    ("/dashboard", "Overview"),
    ("/dashboard/programs", "Programs"),
    ("/dashboard/creators", "Creators"),
    ("/dashboard/links", "Links"),
    ("/dashboard/conversions", "Conversions"),
    ("/dashboard/holds", "Holds"),
    ("/dashboard/settlements", "Settlements"),
    ("/dashboard/connections", "Connections"),
    ("/dashboard/audit", "Audit log"),
    ("/dashboard/keys", "API keys"),
];

const CREATOR_NAV: &[(&str, &str)] = &[
    ("/dashboard", "Overview"),
    ("/dashboard/links", "Links"),
    ("/dashboard/earnings", "Earnings"),
    ("/dashboard/payouts", "Payouts"),
];

/// A signed-in page: header with navigation and sign-out, then `body`.
pub(crate) fn page(viewer: &Viewer, title: &str, current: &str, body: Markup) -> Markup {
    let nav = if viewer.is_creator() {
        CREATOR_NAV
    } else {
        BRAND_NAV
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/dashboard" { "linkledger" }
                    nav aria-label="Main" {
                        ul {
                            @for (href, label) in nav {
                                li {
                                    @if *href == current {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action="/dashboard/sign-out" class="sign-out" {
                        (csrf(viewer))
                        span class="who" { (role_name(viewer)) " · " (viewer.name) }
                        button type="submit" class="link" { "Sign out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn role_name(viewer: &Viewer) -> &'static str {
    match viewer.caller.role {
        linkledger_core::api_key::Role::Admin => "Admin",
        linkledger_core::api_key::Role::Finance => "Finance",
        linkledger_core::api_key::Role::Creator => "Creator",
    }
}

/// The hidden form token every form carries.
pub(crate) fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.form_token); }
}

pub(crate) fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => div class="notice ok" role="status" { p { (text) } },
            Some(Notice::Error(text)) => div class="notice error" role="alert" { p { (text) } },
            None => {},
        }
    }
}

/// A table that scrolls sideways on a narrow screen (focusable, so a keyboard can scroll it).
pub(crate) fn table(label: &str, head: &[&str], rows: Markup) -> Markup {
    html! {
        div class="scroll" role="region" aria-label=(label) tabindex="0" {
            table {
                thead { tr { @for h in head { th scope="col" { (h) } } } }
                tbody { (rows) }
            }
        }
    }
}

pub(crate) fn money(m: &Money) -> String {
    format!("{} {}", m.to_decimal_string(), m.currency())
}

pub(crate) fn when(at: &OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// A `<select>` with a label; `selected` is chosen.
pub(crate) fn select(
    id: &str,
    label: &str,
    name: &str,
    options: &[(String, String)],
    selected: Option<&str>,
) -> Markup {
    html! {
        p class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options {
                    @if Some(value.as_str()) == selected {
                        option value=(value) selected { (text) }
                    } @else {
                        option value=(value) { (text) }
                    }
                }
            }
        }
    }
}

/// A labelled `<input>`.
pub(crate) fn field(
    id: &str,
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    attrs: &str,
) -> Markup {
    let required = attrs.contains("required");
    html! {
        p class="field" {
            label for=(id) { (label) }
            @if required {
                input id=(id) name=(name) type=(kind) value=(value) required;
            } @else {
                input id=(id) name=(name) type=(kind) value=(value);
            }
        }
    }
}

/// A one-button form posting to `action` (approve, disable, revoke, ...).
pub(crate) fn button_form(viewer: &Viewer, action: &str, label: &str, accessible: &str) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            (csrf(viewer))
            button type="submit" aria-label=(accessible) { (label) }
        }
    }
}

/// Text shown as-is inside `<code>` (ids, URLs).
pub(crate) fn code(text: &str) -> Markup {
    html! { code { (text) } }
}

/// A raw, trusted SVG document of ours (charts, QR codes).
pub(crate) fn svg(svg: String) -> Markup {
    PreEscaped(svg)
}
