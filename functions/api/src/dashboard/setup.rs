//! Store connections (per platform: the URL to paste, the secret set or rotated and shown once,
//! the last deliveries received), the audit log with filters, and API keys (list, issue,
//! revoke, rotate).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use maud::{html, Markup};
use serde_json::json;

use linkledger_core::conversion::Platform;
use linkledger_core::manage::keys::{self, KeyError};
use linkledger_http::{ErrorCode, HttpError, Json, Query};

use super::finance::word;
use super::forms::input;
use super::layout::{self, Notice};
use super::session::Viewer;
use super::{ok, programs_of, query, PageError, PageResult};
use crate::pages::PageParams;
use crate::ApiState;

fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Shopify => "Shopify",
        Platform::Stripe => "Stripe",
        Platform::Woocommerce => "WooCommerce",
        Platform::Postback => "Postback",
    }
}

fn webhook_path(platform: Platform, program: &str) -> String {
    match platform {
        Platform::Postback => format!("/postback/{program}"),
        other => format!("/webhooks/{}/{program}", other.as_str()),
    }
}

async fn connections_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    program: Option<&str>,
    notice: Option<Notice>,
    new_secret: Option<(Platform, &str)>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    viewer.caller.admin()?;
    let programs = programs_of(state, viewer).await?;
    let program = program
        .and_then(|p| programs.iter().find(|(id, ..)| id == p))
        .or(programs.first())
        .map(|(id, ..)| id.clone());
    let options: Vec<(String, String)> = programs
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    let secrets = match &program {
        Some(p) => {
            crate::secrets::list_secrets(
                State(state.clone()),
                viewer.caller.clone(),
                linkledger_http::Path(p.clone()),
            )
            .await?
            .0
            .items
        }
        None => Vec::new(),
    };
    let mut deliveries = Vec::new();
    if let Some(p) = &program {
        if let Ok(pid) = linkledger_core::ids::ProgramId::parse(p) {
            for platform in Platform::ALL {
                deliveries.push((
                    platform,
                    super::deliveries::recent(state, &pid, platform).await?,
                ));
            }
        }
    }
    Ok(layout::page(
        viewer,
        "Connections",
        "/dashboard/connections",
        html! {
            (layout::notice(notice.as_ref()))
            @if options.is_empty() {
                p { "No program yet. " a href="/dashboard/programs" { "Create a program" } " first." }
            } @else {
                form method="get" action="/dashboard/connections" class="filters" {
                    (layout::select("conn-program", "Program", "program", &options, program.as_deref()))
                    p class="field" { button type="submit" { "Show" } }
                }
            }
            @if let Some(program) = &program {
                @for (platform, recent) in &deliveries {
                    @let name = platform_name(*platform);
                    @let url = format!("{}{}", viewer.origin, webhook_path(*platform, program));
                    @let hint = secrets.iter().find(|s| word(&s.platform).replace(' ', "") == platform.as_str());
                    section class="card" aria-labelledby={ "conn-" (platform.as_str()) } {
                        h2 id={ "conn-" (platform.as_str()) } { (name) }
                        p { "Paste this URL into " (name) ": " (layout::code(&url)) }
                        p { @match hint {
                            Some(s) => { "Secret set " (layout::when(&s.created_at)) ", ending " (layout::code(&s.secret_hint)) "." },
                            None => "No secret yet: deliveries are refused until one is set.",
                        } }
                        @if let Some((p, secret)) = new_secret {
                            @if p == *platform {
                                div class="notice ok" role="status" {
                                    p { "The new " (name) " secret, shown this once. Paste it into " (name) "." }
                                    p { code id="new-secret" { (secret) } }
                                }
                            }
                        }
                        form method="post" action={ "/dashboard/connections/" (program) "/" (platform.as_str()) } {
                            (layout::csrf(viewer))
                            (layout::field(&format!("secret-{}", platform.as_str()), "Secret (leave empty to generate one)", "secret", "password", "", ""))
                            p { button type="submit" { "Set " (name) " secret" } }
                        }
                        h3 { "Last deliveries" }
                        @if recent.is_empty() {
                            p { "None received yet." }
                        } @else {
                            (layout::table(&format!("Last {name} deliveries"), &["Received", "Topic", "Result"], html! {
                                @for d in recent {
                                    tr { td { (layout::when(&d.at)) } td { (d.topic) } td { (d.result) } }
                                }
                            }))
                        }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/connections?program=`.
pub(crate) async fn connections(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    ok(connections_markup(&state, &viewer, q.get("program"), None, None).await?)
}

/// `POST /dashboard/connections/{program}/{platform}`: sets or rotates the secret, shown once.
pub(crate) async fn set_secret(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path((program, platform)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let set = async {
        let input = input(json!({"secret": form.string("secret")}))?;
        crate::secrets::put_secret(
            State(state.clone()),
            viewer.caller.clone(),
            linkledger_http::Path((program.clone(), platform.clone())),
            Json(input),
        )
        .await
    }
    .await;
    match set {
        Ok(Json(set)) => {
            let platform = Platform::parse(&platform).unwrap_or(Platform::Postback);
            ok(connections_markup(
                &state,
                &viewer,
                Some(&program),
                None,
                Some((platform, &set.secret)),
            )
            .await?)
        }
        Err(err) => {
            let markup = connections_markup(
                &state,
                &viewer,
                Some(&program),
                Some(Notice::Error(err.message.clone())),
                None,
            )
            .await?;
            Ok(layout::html(
                err.status.max(StatusCode::BAD_REQUEST),
                markup,
            ))
        }
    }
}

/// `GET /dashboard/audit?action=&target=`: the newest entries, filtered by action or target.
pub(crate) async fn audit(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    super::brand_only(&viewer)?;
    let q = query(raw);
    let page = crate::audit::list_audit(
        State(state.clone()),
        viewer.caller.clone(),
        Query(PageParams {
            limit: Some(crate::pages::MAX_LIMIT),
            cursor: None,
        }),
    )
    .await?
    .0;
    let action = q.get("action").unwrap_or("");
    let target = q.get("target").unwrap_or("");
    let entries: Vec<_> = page
        .items
        .iter()
        .filter(|e| action.is_empty() || e.action.contains(action))
        .filter(|e| target.is_empty() || e.target.contains(target))
        .collect();
    ok(layout::page(
        &viewer,
        "Audit log",
        "/dashboard/audit",
        html! {
            form method="get" action="/dashboard/audit" class="filters" {
                (layout::field("audit-action", "Action contains", "action", "text", action, ""))
                (layout::field("audit-target", "Target contains", "target", "text", target, ""))
                p class="field" { button type="submit" { "Filter" } }
            }
            p class="hint" { "The newest " (crate::pages::MAX_LIMIT) " entries, filtered. Every change made through the API, the dashboard or the command line is here, with who made it." }
            (layout::table("Audit log", &["When", "Who", "Action", "Target"], html! {
                @for e in &entries {
                    tr {
                        td { (layout::when(&e.at)) }
                        td { (serde_json::to_value(&e.actor).ok().and_then(|v| v.get("id").or(v.get("name")).and_then(|s| s.as_str()).map(str::to_string)).unwrap_or_default()) }
                        td { (e.action) }
                        td { (layout::code(&e.target)) }
                    }
                }
            }))
        },
    ))
}

async fn keys_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    notice: Option<Notice>,
    issued: Option<&str>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let page = crate::keys::list_keys(
        State(state.clone()),
        viewer.caller.clone(),
        Query(PageParams {
            limit: Some(crate::pages::MAX_LIMIT),
            cursor: None,
        }),
    )
    .await?
    .0;
    let roles = vec![
        ("admin".to_string(), "admin".to_string()),
        ("finance".to_string(), "finance".to_string()),
    ];
    Ok(layout::page(
        viewer,
        "API keys",
        "/dashboard/keys",
        html! {
            (layout::notice(notice.as_ref()))
            @if let Some(key) = issued {
                div class="notice ok" role="status" {
                    p { "The new key, shown this once. Store it now: linkledger keeps only its hash." }
                    p { code id="issued-key" { (key) } }
                }
            }
            (layout::table("API keys", &["Key", "Role", "Creator", "Label", "Created", "State", "Actions"], html! {
                @for k in &page.items {
                    tr {
                        td { (layout::code(&k.id)) }
                        td { (word(&k.role)) }
                        td { @if let Some(c) = &k.creator_id { (c) } }
                        td { (k.label.clone().unwrap_or_default()) }
                        td { (layout::when(&k.created_at)) }
                        td { @if k.revoked { "revoked" } @else if k.id == viewer.caller.key_id { "active (this session)" } @else { "active" } }
                        td class="actions" {
                            @if !k.revoked {
                                (layout::button_form(viewer, &format!("/dashboard/keys/{}/rotate", k.id), "Rotate", &format!("Rotate key {}", k.id)))
                                (layout::button_form(viewer, &format!("/dashboard/keys/{}/revoke", k.id), "Revoke", &format!("Revoke key {}", k.id)))
                            }
                        }
                    }
                }
            }))
            section class="card" aria-labelledby="new-key" {
                h2 id="new-key" { "New key" }
                form method="post" action="/dashboard/keys" {
                    (layout::csrf(viewer))
                    (layout::select("key-role", "Role", "role", &roles, None))
                    (layout::field("key-label", "Label", "label", "text", "", ""))
                    p { button type="submit" { "Issue key" } }
                }
                p class="hint" { "Creator keys are issued on each creator's page." }
            }
        },
    ))
}

/// `GET /dashboard/keys`.
pub(crate) async fn keys(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    ok(keys_markup(&state, &viewer, None, None).await?)
}

/// `POST /dashboard/keys`: an admin or finance key, shown once.
pub(crate) async fn issue_key(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let issued = async {
        let input = input(json!({"role": form.string("role"), "label": form.string("label")}))?;
        crate::keys::create_key(State(state.clone()), viewer.caller.clone(), Json(input)).await
    }
    .await;
    match issued {
        Ok((_, Json(issued))) => ok(keys_markup(&state, &viewer, None, Some(&issued.key)).await?),
        Err(err) => {
            let markup = keys_markup(
                &state,
                &viewer,
                Some(Notice::Error(err.message.clone())),
                None,
            )
            .await?;
            Ok(layout::html(
                err.status.max(StatusCode::BAD_REQUEST),
                markup,
            ))
        }
    }
}

/// `POST /dashboard/keys/{id}/revoke|rotate`: revoking is final; rotating issues a key of the
/// same role, creator and label, shown once, and revokes the old one.
pub(crate) async fn key_action(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&headers, &body)?;
    let done = async {
        viewer.caller.admin()?;
        if !matches!(action.as_str(), "revoke" | "rotate") {
            return Err(HttpError::not_found("revoke or rotate"));
        }
        let found = state
            .store
            .api_key_by_id(&id)
            .await?
            .ok_or_else(|| HttpError::not_found("no such key"))?;
        let issued = if action == "rotate" {
            let new = crate::NewApiKey {
                role: found.record.role,
                creator_id: found.record.creator_id.clone(),
                label: found.record.label.clone(),
            };
            let issued = crate::issue_key(&state.store, new, &viewer.caller.actor())
                .await
                .map_err(|e| match e {
                    crate::IssueError::Store(e) => HttpError::from(e),
                    crate::IssueError::Refused(e) => HttpError::bad_request(ErrorCode::InvalidKey, e.to_string()),
                })?;
            Some(issued.key)
        } else {
            None
        };
        let (revoked, audit) = keys::revoke(&found.record, state.store.now(), &viewer.caller.actor())
            .map_err(|e: KeyError| HttpError::conflict(e.to_string()))?;
        state.store.revoke_api_key(&revoked, found.version, &audit).await?;
        tracing::info!(key_id = %id, by = %viewer.caller.key_id, action = %action, "api key changed from the dashboard");
        Ok::<_, HttpError>(issued)
    }
    .await;
    match done {
        Ok(issued) => {
            let notice = Notice::Done(match issued {
                Some(_) => format!("Key {id} rotated: the old key is revoked."),
                None => format!("Key {id} revoked."),
            });
            ok(keys_markup(&state, &viewer, Some(notice), issued.as_deref()).await?)
        }
        Err(err) => {
            let markup = keys_markup(
                &state,
                &viewer,
                Some(Notice::Error(err.message.clone())),
                None,
            )
            .await?;
            Ok(layout::html(
                err.status.max(StatusCode::BAD_REQUEST),
                markup,
            ))
        }
    }
}
