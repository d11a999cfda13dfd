//! Programs (create, edit the plan, domains, holding days, minimum payout, time zone; promo
//! codes), creators with their figures (add, enrol, issue a creator key shown once), and links
//! (create, disable; a creator's own, with copy buttons and QR codes).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::json;

use linkledger_http::{HttpError, Json, Query};

use super::forms::{input, Form};
use super::layout::{self, Notice};
use super::session::{see_other, Viewer};
use super::{ok, outcome, programs_of, query, PageError, PageResult};
use crate::links::LinkQuery;
use crate::pages::PageParams;
use crate::stats::{report, StatsParams};
use crate::wire::programs::{ProgramView, SaleCommission};
use crate::ApiState;

fn first_page() -> Query<PageParams> {
    Query(PageParams {
        limit: Some(crate::pages::MAX_LIMIT),
        cursor: None,
    })
}

/// A page re-rendered after a failed post: the failure as its notice, with its status.
fn failed(markup: Markup, err: &HttpError) -> Response {
    let status = if err.status.is_server_error() {
        err.status
    } else {
        StatusCode::BAD_REQUEST.max(err.status)
    };
    layout::html(status, markup)
}

fn sale_rate(plan: &crate::wire::programs::CommissionPlan) -> String {
    match &plan.sale {
        Some(SaleCommission::RateBps(bps)) => bps.0.get().to_string(),
        _ => String::new(),
    }
}

fn program_fields(form_id: &str, p: Option<&crate::wire::programs::Program>) -> Markup {
    let id = |name: &str| format!("{form_id}-{name}");
    let domains = p.map_or(String::new(), |p| {
        p.allowed_domains
            .iter()
            .map(|d| d.as_str().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    });
    html! {
        (layout::field(&id("name"), "Name", "name", "text", p.map_or("", |p| p.name.as_str()), "required"))
        @if p.is_none() {
            (layout::field(&id("currency"), "Currency", "currency", "text", "EUR", "required"))
        }
        p class="field" {
            label for=(id("domains")) { "Allowed domains (one per line)" }
            textarea id=(id("domains")) name="allowed_domains" rows="3" required { (domains) }
        }
        (layout::field(&id("sale"), "Sale commission (basis points)", "sale_bps", "number", &p.map_or("1000".into(), |p| sale_rate(&p.plan)), ""))
        (layout::field(&id("holding"), "Holding days", "holding_days", "number", &p.map_or("30".into(), |p| p.holding_days.to_string()), ""))
        (layout::field(&id("min"), "Minimum payout", "min_payout", "text", &p.map_or(String::new(), |p| p.min_payout.to_decimal_string()), ""))
        (layout::field(&id("tz"), "Time zone", "time_zone", "text", p.map_or("UTC", |p| p.time_zone.as_str()), ""))
    }
}

/// The program input a form describes (create or edit), as the API's JSON.
fn program_json(form: &Form, currency: &str) -> serde_json::Value {
    let plan = form
        .get("sale_bps")
        .map(|_| json!({"sale": {"rate_bps": form.number("sale_bps")}}));
    json!({
        "name": form.string("name"),
        "currency": currency,
        "allowed_domains": form.lines("allowed_domains"),
        "holding_days": form.number("holding_days"),
        "min_payout": form.money("min_payout", currency),
        "time_zone": form.string("time_zone"),
        "plan": plan,
    })
}

async fn programs_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let listing =
        crate::programs::list_programs(State(state.clone()), viewer.caller.clone(), first_page())
            .await?
            .0;
    let admin = viewer.caller.admin().is_ok();
    Ok(layout::page(
        viewer,
        "Programs",
        "/dashboard/programs",
        html! {
            (layout::notice(notice.as_ref()))
            (layout::table("Programs", &["Program", "Currency", "Holding days", "Time zone", "Id"], html! {
                @for view in &listing.items {
                    @if let ProgramView::Program(p) = view {
                        tr {
                            td { a href={ "/dashboard/programs/" (p.id) } { (p.name) } }
                            td { (p.currency) } td { (p.holding_days) } td { (p.time_zone) }
                            td { (layout::code(&p.id.to_string())) }
                        }
                    }
                }
            }))
            @if admin {
                section aria-labelledby="new-program" class="card" {
                    h2 id="new-program" { "New program" }
                    form method="post" action="/dashboard/programs" {
                        (layout::csrf(viewer))
                        (program_fields("new-program", None))
                        p { button type="submit" { "Create program" } }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/programs`.
pub(crate) async fn programs(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    ok(programs_markup(&state, &viewer, None).await?)
}

/// `POST /dashboard/programs`.
pub(crate) async fn create_program(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let currency = form.get("currency").unwrap_or("").to_ascii_uppercase();
    let created = async {
        let input = input(program_json(&form, &currency))?;
        crate::programs::create_program(State(state.clone()), viewer.caller.clone(), Json(input))
            .await
    }
    .await;
    match created {
        Ok((_, Json(program))) => Ok(see_other(&format!("/dashboard/programs/{}", program.id))),
        Err(err) => Ok(failed(
            programs_markup(&state, &viewer, Some(Notice::Error(err.message.clone()))).await?,
            &err,
        )),
    }
}

async fn program_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    id: &str,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let view = crate::programs::get_program(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(id.to_string()),
    )
    .await?
    .0;
    let ProgramView::Program(p) = view else {
        return Err(HttpError::not_found("no such program").into());
    };
    let codes = crate::promo_codes::list_promo_codes(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(id.to_string()),
        first_page(),
    )
    .await?
    .0;
    let enrolments = crate::programs::list_enrolments(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(id.to_string()),
        first_page(),
    )
    .await?
    .0;
    let admin = viewer.caller.admin().is_ok();
    let creators: Vec<(String, String)> = enrolments
        .items
        .iter()
        .map(|e| (e.creator_id.to_string(), e.creator_id.to_string()))
        .collect();
    Ok(layout::page(
        viewer,
        &p.name,
        "/dashboard/programs",
        html! {
            (layout::notice(notice.as_ref()))
            p { "Program " span data-program-id=(p.id) { (layout::code(&p.id.to_string())) } " in " (p.currency) ". "
                a href={ "/dashboard?program=" (p.id) } { "Its figures" } " · "
                a href={ "/dashboard/connections?program=" (p.id) } { "Store connections" } }
            @if admin {
                section aria-labelledby="edit-program" class="card" {
                    h2 id="edit-program" { "Settings" }
                    form method="post" action={ "/dashboard/programs/" (p.id) } {
                        (layout::csrf(viewer))
                        (program_fields("edit-program", Some(&p)))
                        p { button type="submit" { "Save settings" } }
                    }
                }
            }
            section {
                h2 id="enrolled" { "Enrolled creators" }
                (layout::table("Enrolled creators", &["Creator", "Enrolled"], html! {
                    @for e in &enrolments.items {
                        tr { td { a href={ "/dashboard/creators/" (e.creator_id) } { (e.creator_id) } } td { (layout::when(&e.enrolled_at)) } }
                    }
                }))
            }
            section {
                h2 id="codes" { "Promo codes" }
                (layout::table("Promo codes", &["Code", "Creator", "Created", "State", "Actions"], html! {
                    @for c in &codes.items {
                        tr {
                            td { (layout::code(&c.code)) } td { (c.creator_id) } td { (layout::when(&c.created_at)) }
                            td { @if c.disabled { "disabled" } @else { "active" } }
                            td { @if admin && !c.disabled {
                                (layout::button_form(viewer, &format!("/dashboard/programs/{}/codes/{}/disable", p.id, c.code), "Disable", &format!("Disable promo code {}", c.code)))
                            } }
                        }
                    }
                }))
                @if admin && !creators.is_empty() {
                    form method="post" action={ "/dashboard/programs/" (p.id) "/codes" } class="card" {
                        (layout::csrf(viewer))
                        (layout::field("code-code", "Promo code", "code", "text", "", "required"))
                        (layout::select("code-creator", "Creator", "creator_id", &creators, None))
                        p { button type="submit" { "Add promo code" } }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/programs/{id}`.
pub(crate) async fn program(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    ok(program_markup(&state, &viewer, &id, None).await?)
}

/// `POST /dashboard/programs/{id}`: the settings form, as the API's patch.
pub(crate) async fn update_program(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let saved = async {
        let current = crate::programs::visible_program(&state, &viewer.caller, &id)
            .await?
            .0;
        let mut patch = program_json(&form, &current.currency.to_string());
        if let Some(map) = patch.as_object_mut() {
            map.remove("currency");
        }
        let patch = input(patch)?;
        crate::programs::update_program(
            State(state.clone()),
            viewer.caller.clone(),
            linkledger_http::Path(id.clone()),
            Json(patch),
        )
        .await
    }
    .await;
    let (notice, status) = outcome(saved, |_| "Settings saved.".into())?;
    let markup = program_markup(&state, &viewer, &id, Some(notice)).await?;
    Ok(layout::html(status, markup))
}

/// `POST /dashboard/programs/{id}/codes`.
pub(crate) async fn create_code(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let created = async {
        let input =
            input(json!({"code": form.string("code"), "creator_id": form.string("creator_id")}))?;
        crate::promo_codes::create_promo_code(
            State(state.clone()),
            viewer.caller.clone(),
            linkledger_http::Path(id.clone()),
            Json(input),
        )
        .await
    }
    .await;
    let (notice, status) = outcome(created, |(_, Json(code))| {
        format!("Promo code {} added.", code.code)
    })?;
    let markup = program_markup(&state, &viewer, &id, Some(notice)).await?;
    Ok(layout::html(status, markup))
}

async fn creators_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    program: Option<&str>,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let creators =
        crate::creators::list_creators(State(state.clone()), viewer.caller.clone(), first_page())
            .await?
            .0;
    let programs = programs_of(state, viewer).await?;
    let program = program
        .and_then(|p| programs.iter().find(|(id, ..)| id == p))
        .or(programs.first())
        .map(|(id, ..)| id.clone());
    let figures = match &program {
        Some(program) => {
            let (r, _) = report(
                state,
                &viewer.caller,
                &StatsParams {
                    program: program.clone(),
                    group_by: Some("creator".into()),
                    ..StatsParams::default()
                },
            )
            .await?;
            r.rows
                .into_iter()
                .filter_map(|row| row.key.map(|k| (k, row.figures)))
                .collect()
        }
        None => std::collections::BTreeMap::new(),
    };
    let options: Vec<(String, String)> = programs
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    Ok(layout::page(
        viewer,
        "Creators",
        "/dashboard/creators",
        html! {
            (layout::notice(notice.as_ref()))
            @if !options.is_empty() {
                form method="get" action="/dashboard/creators" class="filters" {
                    (layout::select("creators-program", "Figures of program (last 30 days)", "program", &options, program.as_deref()))
                    p class="field" { button type="submit" { "Show" } }
                }
            }
            (layout::table("Creators", &["Creator", "Payout e-mail", "Clicks", "Sales", "Revenue", "Commission", "Payable"], html! {
                @for c in &creators.items {
                    @let f = figures.get(&c.id.to_string());
                    tr {
                        td { a href={ "/dashboard/creators/" (c.id) } { (c.name) } }
                        td { (c.payout_email) }
                        td { (f.map_or(0, |f| f.clicks)) }
                        td { (f.map_or(0, |f| f.sales)) }
                        td { (f.map_or("–".into(), |f| layout::money(&f.revenue))) }
                        td { (f.map_or("–".into(), |f| layout::money(&f.commission))) }
                        td { (f.and_then(|f| f.payable.as_ref()).map_or("–".into(), layout::money)) }
                    }
                }
            }))
            @if viewer.caller.admin().is_ok() {
                section aria-labelledby="new-creator" class="card" {
                    h2 id="new-creator" { "New creator" }
                    form method="post" action="/dashboard/creators" {
                        (layout::csrf(viewer))
                        (layout::field("creator-name", "Name", "name", "text", "", "required"))
                        (layout::field("creator-email", "Payout e-mail", "payout_email", "email", "", "required"))
                        p { button type="submit" { "Add creator" } }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/creators`.
pub(crate) async fn creators(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    ok(creators_markup(&state, &viewer, q.get("program"), None).await?)
}

/// `POST /dashboard/creators`.
pub(crate) async fn create_creator(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let created = async {
        let input = input(
            json!({"name": form.string("name"), "payout_email": form.string("payout_email")}),
        )?;
        crate::creators::create_creator(State(state.clone()), viewer.caller.clone(), Json(input))
            .await
    }
    .await;
    match created {
        Ok((_, Json(creator))) => Ok(see_other(&format!("/dashboard/creators/{}", creator.id))),
        Err(err) => Ok(failed(
            creators_markup(
                &state,
                &viewer,
                None,
                Some(Notice::Error(err.message.clone())),
            )
            .await?,
            &err,
        )),
    }
}

async fn creator_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    id: &str,
    notice: Option<Notice>,
    issued_key: Option<&str>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let creator = crate::creators::get_creator(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(id.to_string()),
    )
    .await?
    .0;
    let programs = programs_of(state, viewer).await?;
    let links = crate::links::list_links(
        State(state.clone()),
        viewer.caller.clone(),
        Query(LinkQuery {
            creator: Some(id.to_string()),
            ..LinkQuery::default()
        }),
    )
    .await?
    .0;
    let options: Vec<(String, String)> = programs
        .iter()
        .map(|(pid, name, _)| (pid.clone(), name.clone()))
        .collect();
    let admin = viewer.caller.admin().is_ok();
    Ok(layout::page(
        viewer,
        &creator.name,
        "/dashboard/creators",
        html! {
            (layout::notice(notice.as_ref()))
            @if let Some(key) = issued_key {
                div class="notice ok" role="status" {
                    p { "The creator's key, shown this once. Send it to the creator; it signs in to the creator's portal." }
                    p { code id="issued-key" { (key) } }
                }
            }
            p { "Creator " span data-creator-id=(creator.id) { (layout::code(&creator.id.to_string())) } ", paid at " (creator.payout_email) "." }
            section {
                h2 id="creator-links" { "Links" }
                (links_table(viewer, &links.items))
            }
            @if admin {
                div class="two" {
                    form method="post" action={ "/dashboard/creators/" (creator.id) "/enrol" } class="card" {
                        h2 { "Enrol" }
                        (layout::csrf(viewer))
                        (layout::select("enrol-program", "Program", "program", &options, None))
                        p { button type="submit" { "Enrol" } }
                    }
                    form method="post" action={ "/dashboard/creators/" (creator.id) "/keys" } class="card" {
                        h2 { "Creator key" }
                        (layout::csrf(viewer))
                        p { "A key for the creator's portal: it sees this creator's links, figures and payouts only." }
                        p { button type="submit" { "Issue creator key" } }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/creators/{id}`.
pub(crate) async fn creator(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    ok(creator_markup(&state, &viewer, &id, None, None).await?)
}

/// `POST /dashboard/creators/{id}/enrol`.
pub(crate) async fn enrol(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let program = form.get("program").unwrap_or("").to_string();
    let enrolled = async {
        let input = input(json!({"creator_id": id}))?;
        crate::programs::enrol_creator(
            State(state.clone()),
            viewer.caller.clone(),
            linkledger_http::Path(program.clone()),
            Json(input),
        )
        .await
    }
    .await;
    let (notice, status) = outcome(enrolled, |_| "Enrolled.".into())?;
    let markup = creator_markup(&state, &viewer, &id, Some(notice), None).await?;
    Ok(layout::html(status, markup))
}

/// `POST /dashboard/creators/{id}/keys`: the key is shown on the answer, once.
pub(crate) async fn issue_creator_key(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&headers, &body)?;
    let issued = async {
        let input = input(json!({"role": "creator", "creator_id": id, "label": "creator portal"}))?;
        crate::keys::create_key(State(state.clone()), viewer.caller.clone(), Json(input)).await
    }
    .await;
    match issued {
        Ok((_, Json(issued))) => {
            ok(creator_markup(&state, &viewer, &id, None, Some(&issued.key)).await?)
        }
        Err(err) => Ok(failed(
            creator_markup(
                &state,
                &viewer,
                &id,
                Some(Notice::Error(err.message.clone())),
                None,
            )
            .await?,
            &err,
        )),
    }
}

/// A table of links: code, short URL with a copy button, destination, state, QR code.
pub(crate) fn links_table(viewer: &Viewer, links: &[crate::wire::links::Link]) -> Markup {
    layout::table(
        "Links",
        &[
            "Code",
            "Short link",
            "Destination",
            "State",
            "QR code",
            "Actions",
        ],
        html! {
            @for link in links {
                @let short = format!("{}/{}", viewer.origin, link.code);
                tr {
                    td data-link-code=(link.code) { (layout::code(&link.code.to_string())) }
                    td {
                        a href=(short) { (short) }
                        " "
                        button type="button" class="copy" data-copy=(short) hidden aria-label={ "Copy " (short) } { "Copy" }
                    }
                    td class="wrap" { (link.destination.as_str()) }
                    td { @if link.disabled { "disabled" } @else { "active" } }
                    td { a href={ "/dashboard/links/" (link.code) "/qr.svg" } { img src={ "/dashboard/links/" (link.code) "/qr.svg" } alt={ "QR code of " (short) } width="72" height="72" loading="lazy"; } }
                    td {
                        @if !link.disabled {
                            (layout::button_form(viewer, &format!("/dashboard/links/{}/disable", link.code), "Disable", &format!("Disable {}", link.code)))
                        }
                    }
                }
            }
        },
    )
}

async fn links_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    let programs = programs_of(state, viewer).await?;
    let mut links = Vec::new();
    for (program, ..) in &programs {
        let page = crate::links::list_links(
            State(state.clone()),
            viewer.caller.clone(),
            Query(LinkQuery {
                program: Some(program.clone()),
                limit: Some(crate::pages::MAX_LIMIT),
                ..LinkQuery::default()
            }),
        )
        .await?
        .0;
        links.extend(page.items);
    }
    let program_options: Vec<(String, String)> = programs
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    let creator_options: Vec<(String, String)> = if viewer.is_creator() {
        Vec::new()
    } else {
        crate::creators::list_creators(State(state.clone()), viewer.caller.clone(), first_page())
            .await?
            .0
            .items
            .into_iter()
            .map(|c| (c.id.to_string(), c.name))
            .collect()
    };
    let allowed: Vec<String> = if viewer.is_creator() {
        let mut domains = Vec::new();
        for (program, name, _) in &programs {
            if let Ok((p, _)) =
                crate::programs::visible_program(state, &viewer.caller, program).await
            {
                let list: Vec<String> = p
                    .allowed_domains
                    .iter()
                    .map(|d| d.as_str().to_string())
                    .collect();
                domains.push(format!("{name}: {}", list.join(", ")));
            }
        }
        domains
    } else {
        Vec::new()
    };
    let mut codes = Vec::new();
    if viewer.is_creator() {
        for (program, name, _) in &programs {
            let page = crate::promo_codes::list_promo_codes(
                State(state.clone()),
                viewer.caller.clone(),
                linkledger_http::Path(program.clone()),
                first_page(),
            )
            .await?
            .0;
            codes.extend(page.items.into_iter().map(|c| (name.clone(), c)));
        }
    }
    Ok(layout::page(
        viewer,
        "Links",
        "/dashboard/links",
        html! {
        (layout::notice(notice.as_ref()))
        (links_table(viewer, &links))
        @if !codes.is_empty() {
            h2 { "Your promo codes" }
            (layout::table("Your promo codes", &["Code", "Program", "State"], html! {
                @for (program, c) in &codes {
                    tr { td { (layout::code(&c.code)) } td { (program) } td { @if c.disabled { "disabled" } @else { "active" } } }
                }
            }))
        }
            p class="status" role="status" data-copy-status {}
            @if !program_options.is_empty() {
                section aria-labelledby="new-link" class="card" {
                    h2 id="new-link" { "New link" }
                    form method="post" action="/dashboard/links" {
                        (layout::csrf(viewer))
                        (layout::select("link-program", "Program", "program_id", &program_options, None))
                        @if !viewer.is_creator() {
                            (layout::select("link-creator", "Creator", "creator_id", &creator_options, None))
                        }
                        (layout::field("link-destination", "Destination", "destination", "url", "", "required"))
                        @if !allowed.is_empty() {
                            p class="hint" { "Destinations must be on the program's domains. " @for line in &allowed { (line) ". " } }
                        }
                        (layout::field("link-code", "Short code (optional)", "code", "text", "", ""))
                        p { button type="submit" { "Create link" } }
                    }
                }
            }
        },
    ))
}

/// `GET /dashboard/links`: every program's links for a brand, the creator's own for a creator.
pub(crate) async fn links(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    ok(links_markup(&state, &viewer, None).await?)
}

/// `POST /dashboard/links`.
pub(crate) async fn create_link(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let created = async {
        let input = input(json!({
            "program_id": form.string("program_id"),
            "creator_id": form.string("creator_id"),
            "destination": form.string("destination"),
            "code": form.string("code"),
        }))?;
        crate::links::create_link(State(state.clone()), viewer.caller.clone(), Json(input)).await
    }
    .await;
    let (notice, status) = outcome(created, |(_, Json(link))| {
        format!("Link {} created.", link.code)
    })?;
    let markup = links_markup(&state, &viewer, Some(notice)).await?;
    Ok(layout::html(status, markup))
}

/// `POST /dashboard/links/{code}/disable`.
pub(crate) async fn disable_link(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&headers, &body)?;
    let disabled = crate::links::disable_link(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(code.clone()),
    )
    .await;
    let (notice, status) = outcome(disabled, |_| format!("Link {code} disabled."))?;
    let markup = links_markup(&state, &viewer, Some(notice)).await?;
    Ok(layout::html(status, markup))
}

/// `POST /dashboard/programs/{id}/codes/{code}/disable`.
pub(crate) async fn disable_code(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path((id, code)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&headers, &body)?;
    let disabled = crate::promo_codes::disable_promo_code(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path((id.clone(), code.clone())),
    )
    .await;
    let (notice, status) = outcome(disabled, |Json(promo)| {
        format!("Promo code {} disabled.", promo.code)
    })?;
    let markup = program_markup(&state, &viewer, &id, Some(notice)).await?;
    Ok(layout::html(status, markup))
}
