//! The overview: a program's key figures for a date range, its daily chart, top creators and top
//! links; refreshed in place every few seconds by the page's script (`/dashboard/live`). A
//! creator key sees the same page of its own figures only (the stats are scoped by its key).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use maud::{html, Markup};

use linkledger_core::ids::CreatorId;

use super::chart::{self, Series};
use super::layout::{self, Notice};
use super::session::Viewer;
use super::{ok, programs_of, query, PageError, PageResult};
use crate::stats::{csv_of, report, StatsParams};
use crate::wire::stats::{StatsFigures, StatsReport};
use crate::ApiState;

/// How often the page asks for fresh figures (the script reads it from the page).
const REFRESH_MS: u32 = 3000;

fn params(
    program: &str,
    group_by: &str,
    period: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> StatsParams {
    StatsParams {
        program: program.to_string(),
        group_by: Some(group_by.to_string()),
        period: Some(period.to_string()),
        from: from.map(str::to_string),
        to: to.map(str::to_string),
        creator: None,
        format: None,
    }
}

fn money_or_dash(m: Option<&linkledger_core::money::Money>) -> String {
    m.map_or("–".to_string(), layout::money)
}

fn bps(value: Option<i64>) -> String {
    value.map_or("–".to_string(), |v| {
        format!("{}.{:02} %", v / 100, (v % 100).abs())
    })
}

/// The key figures of a report's totals.
pub(crate) fn figures(f: &StatsFigures) -> Markup {
    let items: Vec<(&str, &str, String)> = vec![
        ("clicks", "Clicks", f.clicks.to_string()),
        (
            "unique_clicks",
            "Unique clicks",
            f.unique_clicks.to_string(),
        ),
        ("bot_clicks", "Bot clicks", f.bot_clicks.to_string()),
        ("leads", "Leads", f.leads.to_string()),
        ("sales", "Sales", f.sales.to_string()),
        (
            "conversion_rate",
            "Conversion rate",
            bps(f.conversion_rate_bps),
        ),
        ("revenue", "Revenue", layout::money(&f.revenue)),
        (
            "average_order_value",
            "Average order",
            money_or_dash(f.average_order_value.as_ref()),
        ),
        ("commission", "Commission", layout::money(&f.commission)),
        (
            "reversed",
            "Reversed",
            layout::money(&f.commission_reversed),
        ),
        ("refunds", "Refunds", f.refunds.to_string()),
        ("held", "Held", f.held.to_string()),
        (
            "epc",
            "Earnings per click",
            money_or_dash(f.earnings_per_click.as_ref()),
        ),
        ("roas", "ROAS", f.roas.clone().unwrap_or_else(|| "–".into())),
        ("pending", "Pending", money_or_dash(f.pending.as_ref())),
        ("payable", "Payable", money_or_dash(f.payable.as_ref())),
        ("paid", "Paid", money_or_dash(f.paid.as_ref())),
    ];
    html! {
        dl class="figures" {
            @for (key, label, value) in &items {
                div { dt { (label) } dd data-figure=(key) { (value) } }
            }
        }
    }
}

/// Every day of the report's range, with its row when it has one (days without any activity
/// have no bucket, and chart as zero).
fn every_day(report: &StatsReport) -> Vec<(String, Option<&StatsFigures>)> {
    let rows: std::collections::BTreeMap<&str, &StatsFigures> = report
        .rows
        .iter()
        .filter_map(|r| r.period.as_deref().map(|p| (p, &r.figures)))
        .collect();
    let (Some(from), Some(to)) = (
        linkledger_core::parse_date(&report.from),
        linkledger_core::parse_date(&report.to),
    ) else {
        return rows
            .into_iter()
            .map(|(d, f)| (d.to_string(), Some(f)))
            .collect();
    };
    let mut days = Vec::new();
    let mut day = from;
    while day <= to && days.len() < 400 {
        let label = day.to_string();
        let figures = rows.get(label.as_str()).copied();
        days.push((label, figures));
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

fn daily(report: &StatsReport) -> Markup {
    let days = every_day(report);
    let series = |pick: &dyn Fn(&StatsFigures) -> i64| -> Vec<(String, i64)> {
        days.iter()
            .map(|(d, f)| (d.clone(), f.map_or(0, pick)))
            .collect()
    };
    let clicks = series(&|f| f.clicks);
    let sales = series(&|f| f.sales);
    let commission = series(&|f| f.commission.minor());
    let currency = report.currency;
    let count = |v: i64| v.to_string();
    let amount =
        move |v: i64| layout::money(&linkledger_core::money::Money::from_minor(v, currency));
    html! {
        div class="charts" {
            figure { (layout::svg(chart::bars("chart-clicks", &Series { title: "Clicks per day", points: &clicks, show: &count }))) figcaption { "Clicks per day" } }
            figure { (layout::svg(chart::bars("chart-sales", &Series { title: "Sales per day", points: &sales, show: &count }))) figcaption { "Sales per day" } }
            figure { (layout::svg(chart::bars("chart-commission", &Series { title: "Commission per day", points: &commission, show: &amount }))) figcaption { "Commission per day" } }
        }
        details {
            summary { "Daily figures as a table" }
            (layout::table("Daily figures", &["Day", "Clicks", "Sales", "Revenue", "Commission"], html! {
                @for row in &report.rows {
                    tr {
                        td { (row.period.clone().unwrap_or_default()) }
                        td { (row.figures.clicks) }
                        td { (row.figures.sales) }
                        td { (layout::money(&row.figures.revenue)) }
                        td { (layout::money(&row.figures.commission)) }
                    }
                }
            }))
        }
    }
}

/// The live part of the overview: figures, charts, top creators and links.
async fn live_section(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    program: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Markup, String, String), PageError> {
    let caller = &viewer.caller;
    let (totals, _) = report(
        state,
        caller,
        &params(program, "program", "total", from, to),
    )
    .await?;
    let (days, _) = report(state, caller, &params(program, "program", "day", from, to)).await?;
    let (mut links, _) = report(state, caller, &params(program, "link", "total", from, to)).await?;
    links
        .rows
        .sort_by_key(|r| std::cmp::Reverse(r.figures.clicks));
    links.rows.truncate(10);
    let top_creators = if viewer.is_creator() {
        None
    } else {
        let (mut creators, _) = report(
            state,
            caller,
            &params(program, "creator", "total", from, to),
        )
        .await?;
        creators
            .rows
            .sort_by_key(|r| std::cmp::Reverse(r.figures.revenue.minor()));
        creators.rows.truncate(10);
        let mut named = Vec::with_capacity(creators.rows.len());
        for row in creators.rows {
            let id = row.key.clone().unwrap_or_default();
            let name = match CreatorId::parse(&id) {
                Ok(cid) => state.store.creator(&cid).await?.map(|c| c.name),
                Err(_) => None,
            };
            named.push((id, name.unwrap_or_default(), row.figures));
        }
        Some(named)
    };
    let updated = layout::when(&state.store.now());
    let range = (totals.from.clone(), totals.to.clone());
    let markup = html! {
        p class="hint" { "From " (totals.from) " to " (totals.to) " (" (totals.time_zone) "). Updated " (updated) "." }
        (figures(&totals.totals))
        (daily(&days))
        div class="two" {
            @if let Some(creators) = &top_creators {
                section {
                    h2 id="top-creators" { "Top creators" }
                    (layout::table("Top creators", &["Creator", "Clicks", "Sales", "Revenue", "Commission"], html! {
                        @for (id, name, f) in creators {
                            tr {
                                td { a href={ "/dashboard/creators/" (id) } { @if name.is_empty() { (id) } @else { (name) } } }
                                td { (f.clicks) } td { (f.sales) }
                                td { (layout::money(&f.revenue)) } td { (layout::money(&f.commission)) }
                            }
                        }
                    }))
                }
            }
            section {
                h2 id="top-links" { "Top links" }
                (layout::table("Top links", &["Link", "Clicks", "Unique", "Sales", "Commission"], html! {
                    @for row in &links.rows {
                        tr {
                            td data-link-code=(row.key.clone().unwrap_or_default()) { (row.key.clone().unwrap_or_default()) }
                            td { (row.figures.clicks) } td { (row.figures.unique_clicks) }
                            td { (row.figures.sales) } td { (layout::money(&row.figures.commission)) }
                        }
                    }
                }))
            }
        }
    };
    Ok((markup, range.0, range.1))
}

fn live_url(program: &str, from: Option<&str>, to: Option<&str>) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("program", program);
    if let Some(from) = from {
        url.append_pair("from", from);
    }
    if let Some(to) = to {
        url.append_pair("to", to);
    }
    url.finish()
}

/// `GET /dashboard`.
pub(crate) async fn show(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let programs = programs_of(&state, &viewer).await?;
    let Some(first) = programs.first() else {
        let body = if viewer.is_creator() {
            html! { p { "You are not enrolled in any program yet. The brand enrols you; your links and earnings show here then." } }
        } else {
            html! { p { "No program yet. " a href="/dashboard/programs" { "Create your first program" } " to get started." } }
        };
        return ok(layout::page(&viewer, "Overview", "/dashboard", body));
    };
    let program = q
        .get("program")
        .and_then(|p| programs.iter().find(|(id, ..)| id == p))
        .unwrap_or(first)
        .0
        .clone();
    let (from, to) = (q.get("from"), q.get("to"));
    let ((live, shown_from, shown_to), notice, from, to) =
        match live_section(&state, &viewer, &program, from, to).await {
            Ok(live) => (live, None, from, to),
            Err(PageError(err)) if err.status.is_client_error() => (
                live_section(&state, &viewer, &program, None, None).await?,
                Some(Notice::Error(err.message)),
                None,
                None,
            ),
            Err(other) => return Err(other),
        };
    let options: Vec<(String, String)> = programs
        .iter()
        .map(|(id, name, currency)| (id.clone(), format!("{name} ({currency})")))
        .collect();
    let query_string = live_url(&program, from, to);
    let body = html! {
        (layout::notice(notice.as_ref()))
        form method="get" action="/dashboard" class="filters" {
            (layout::select("overview-program", "Program", "program", &options, Some(&program)))
            (layout::field("overview-from", "From", "from", "date", &shown_from, ""))
            (layout::field("overview-to", "To", "to", "date", &shown_to, ""))
            p class="field" { button type="submit" { "Show" } }
        }
        section id="live" data-live={ "/dashboard/live?" (query_string) } data-every=(REFRESH_MS) aria-label="Figures" {
            (live)
        }
        p class="downloads" {
            "Download as CSV: "
            a href={ "/dashboard/stats.csv?group_by=day&" (query_string) } { "by day" } " · "
            @if !viewer.is_creator() {
                a href={ "/dashboard/stats.csv?group_by=creator&" (query_string) } { "by creator" } " · "
            }
            a href={ "/dashboard/stats.csv?group_by=link&" (query_string) } { "by link" } " · "
            a href={ "/dashboard/stats.csv?group_by=code&" (query_string) } { "by promo code" }
        }
    };
    ok(layout::page(&viewer, "Overview", "/dashboard", body))
}

/// `GET /dashboard/live`: the overview's live part alone, for the page's refresh.
pub(crate) async fn live(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let q = query(raw);
    let program = q.get("program").unwrap_or("");
    let (live, ..) = live_section(&state, &viewer, program, q.get("from"), q.get("to")).await?;
    ok(live)
}

/// `GET /dashboard/stats.csv`: any stats view as CSV (the API's CSV, scoped the same way).
pub(crate) async fn stats_csv(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = query(raw);
    let wanted = StatsParams {
        program: q.get("program").unwrap_or("").to_string(),
        group_by: q.get("group_by").map(str::to_string),
        period: q.get("period").map(str::to_string),
        from: q.get("from").map(str::to_string),
        to: q.get("to").map(str::to_string),
        creator: q.get("creator").map(str::to_string),
        format: None,
    };
    let (report, creator) = report(&state, &viewer.caller, &wanted).await?;
    Ok(csv_of(&report, creator.as_ref()))
}
