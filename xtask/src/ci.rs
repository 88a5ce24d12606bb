//! `cargo xtask ci`: every check the project runs before a change lands, in
//! the order that fails fastest.

use crate::util::{cargo, run_step};

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    run_step("fmt", cargo(&["fmt", "--all", "--", "--check"]))?;
    run_step(
        "clippy",
        cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    )?;
    run_step("test", cargo(&["test", "--workspace"]))?;
    Ok(())
}
