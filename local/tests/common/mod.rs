//! What the binary's tests share: the `linkledger` command as a user runs it, without any
//! `LINKLEDGER_*` setting inherited from the environment of the test run.

use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_linkledger");

pub fn linkledger() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "LINKLEDGER_BACKEND",
        "LINKLEDGER_DB",
        "LINKLEDGER_TABLE",
        "LINKLEDGER_CLICK_HASH_SECRET",
    ] {
        command.env_remove(var);
    }
    command
}
