//! The single-table key layout (documented in the module above). Nothing else builds keys.

use crate::api_key::ApiKey;
use crate::audit::AuditEntry;
use crate::click::Click;
use crate::creator::{Creator, Enrolment};
use crate::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use crate::link::{promo_key, Link, PromoCode};
use crate::ports::{IndexKey, Item, Key};
use crate::program::Program;

pub const PROGRAMS: &str = "PROGRAMS";
pub const CREATORS: &str = "CREATORS";
pub const LINKS: &str = "LINKS";
pub const API_KEYS: &str = "APIKEYS";
pub const ENROL_PREFIX: &str = "ENROL#";
pub const PROMO_PREFIX: &str = "PROMO#";

pub fn program(id: &ProgramId) -> Key {
    Key::new(format!("PROGRAM#{id}"), "PROGRAM")
}

pub fn program_item(p: &Program, body: String) -> Item {
    Item::new(program(&p.id), body).with_gsi1(IndexKey::new(PROGRAMS, p.id.as_str()))
}

pub fn creator(id: &CreatorId) -> Key {
    Key::new(format!("CREATOR#{id}"), "CREATOR")
}

pub fn creator_item(c: &Creator, body: String) -> Item {
    Item::new(creator(&c.id), body).with_gsi1(IndexKey::new(CREATORS, c.id.as_str()))
}

pub fn enrolment(program_id: &ProgramId, creator_id: &CreatorId) -> Key {
    Key::new(
        program(program_id).pk,
        format!("{ENROL_PREFIX}{creator_id}"),
    )
}

pub fn enrolment_item(e: &Enrolment, body: String) -> Item {
    Item::new(enrolment(&e.program_id, &e.creator_id), body).with_gsi2(IndexKey::new(
        creator(&e.creator_id).pk,
        format!("{ENROL_PREFIX}{}", e.program_id),
    ))
}

pub fn link(code: &LinkCode) -> Key {
    Key::new(format!("LINK#{code}"), "LINK")
}

pub fn link_item(l: &Link, body: String) -> Item {
    Item::new(link(&l.code), body)
        .with_gsi1(IndexKey::new(LINKS, format!("{}#{}", l.program_id, l.code)))
        .with_gsi2(IndexKey::new(
            creator(&l.creator_id).pk,
            format!("LINK#{}#{}", l.program_id, l.code),
        ))
}

pub fn promo(program_id: &ProgramId, key: &str) -> Key {
    Key::new(program(program_id).pk, format!("{PROMO_PREFIX}{key}"))
}

pub fn promo_item(p: &PromoCode, body: String) -> Item {
    let key = promo_key(&p.code);
    Item::new(promo(&p.program_id, &key), body).with_gsi2(IndexKey::new(
        creator(&p.creator_id).pk,
        format!("{PROMO_PREFIX}{}#{key}", p.program_id),
    ))
}

pub fn click(id: &ClickId) -> Key {
    Key::new(format!("CLICK#{id}"), "CLICK")
}

pub fn link_clicks(code: &LinkCode) -> String {
    format!("LINKCLICKS#{code}")
}

/// Clicks carry one index entry, on their link's time-ordered stream (listing, uniqueness,
/// daily roll-ups); every extra entry would cost a write per click.
pub fn click_item(c: &Click, body: String) -> Item {
    Item::new(click(&c.id), body).with_gsi1(IndexKey::new(link_clicks(&c.link_code), c.id.as_str()))
}

pub fn api_key(hash: &str) -> Key {
    Key::new(format!("APIKEY#{hash}"), "APIKEY")
}

pub fn api_key_item(k: &ApiKey, hash: &str, body: String) -> Item {
    Item::new(api_key(hash), body).with_gsi1(IndexKey::new(API_KEYS, k.id.as_str()))
}

pub fn setting(name: &str) -> Key {
    Key::new(format!("SETTING#{name}"), "SETTING")
}

pub const AUDIT: &str = "AUDIT";

/// One partition per UTC day; `gsi1` lists the whole log in time order.
pub fn audit_item(entry: &AuditEntry, body: String) -> Item {
    let day = entry.at.date();
    Item::new(Key::new(format!("AUDIT#{day}"), entry.id.as_str()), body)
        .with_gsi1(IndexKey::new(AUDIT, entry.id.as_str()))
}
