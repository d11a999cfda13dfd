//! The stats answer: rows of counters and the figures derived from them.

use serde::Serialize;
use utoipa::ToSchema;

use linkledger_core::money::{Currency, Money};
use linkledger_core::stats::{Counters, Figures, Split};

use super::values;

/// One row: a key (program, creator, link or promo code) in one period (absent for totals).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsRow {
    /// The program, creator id, link code or promo code (lower case) the row is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `2026-11-30` (day), `2026-W49` (ISO week), `2026-11` (month); absent for the whole range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(flatten)]
    pub figures: StatsFigures,
}

/// The counters and ratios of a row.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsFigures {
    pub clicks: i64,
    /// Not a bot's, and not the same visitor on the same link within the hour before.
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    pub leads: i64,
    pub sales: i64,
    /// Sales ÷ unique clicks in basis points (250 = 2.5 %); absent without unique clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion_rate_bps: Option<i64>,
    /// The sales' net (after discounts, without tax and shipping), program currency.
    #[schema(value_type = values::Money)]
    pub revenue: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub average_order_value: Option<Money>,
    /// Sales with a refund.
    pub refunds: i64,
    /// The refunded part of the revenue.
    #[schema(value_type = values::Money)]
    pub refunded: Money,
    /// Conversions on hold now.
    pub held: i64,
    #[schema(value_type = values::Money)]
    pub commission_accrued: Money,
    #[schema(value_type = values::Money)]
    pub commission_reversed: Money,
    #[schema(value_type = values::Money)]
    pub commission_adjusted: Money,
    /// Accrued − reversed + adjusted.
    #[schema(value_type = values::Money)]
    pub commission: Money,
    /// Commission ÷ clicks (EPC); absent without clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub earnings_per_click: Option<Money>,
    /// Revenue ÷ commission (ROAS), two decimals (`"12.50"`); absent without commission.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "12.50")]
    pub roas: Option<String>,
    /// Balances now (rows of a creator or the program over the whole range only): not payable
    /// yet, payable by tonight's settlement (negative while a refund after a payout is netted
    /// out), and paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub pending: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub payable: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub paid: Option<Money>,
}

/// Hundredths as a decimal string: `1250` → `"12.50"`.
fn hundredths(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

impl StatsFigures {
    pub fn new(c: &Counters, currency: Currency, balance: Option<&Split>) -> Self {
        let money = |minor: i64| Money::from_minor(minor, currency);
        let f = Figures::of(c);
        Self {
            clicks: c.clicks,
            unique_clicks: c.unique_clicks,
            bot_clicks: c.bot_clicks,
            leads: c.leads,
            sales: c.sales,
            conversion_rate_bps: f.conversion_rate_bps,
            revenue: money(c.revenue),
            average_order_value: f.average_order_value.map(money),
            refunds: c.refunds,
            refunded: money(c.refunded),
            held: c.held,
            commission_accrued: money(c.accrued),
            commission_reversed: money(c.reversed),
            commission_adjusted: money(c.adjusted),
            commission: money(c.commission().unwrap_or(0)),
            earnings_per_click: f.earnings_per_click.map(money),
            roas: f.roas_hundredths.map(hundredths),
            pending: balance.map(|b| money(b.pending)),
            payable: balance.map(|b| money(b.payable)),
            paid: balance.map(|b| money(b.paid)),
        }
    }
}

/// `GET /api/stats`: the rows asked for and their totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsReport {
    #[schema(value_type = String)]
    pub program: linkledger_core::ids::ProgramId,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    /// The zone whose days the rows count (the program's).
    pub time_zone: String,
    /// First and last day of the range, inclusive (`YYYY-MM-DD`, the program's days).
    pub from: String,
    pub to: String,
    /// `program`, `creator`, `link` or `code`.
    pub group_by: String,
    /// `total`, `day`, `week` or `month`.
    pub period: String,
    pub rows: Vec<StatsRow>,
    /// Every row of the range summed.
    pub totals: StatsFigures,
}

#[cfg(test)]
mod tests {
    #[test]
    fn roas_is_written_with_two_decimals() {
        assert_eq!(super::hundredths(1250), "12.50");
        assert_eq!(super::hundredths(5), "0.05");
        assert_eq!(super::hundredths(-101), "-1.01");
    }
}
