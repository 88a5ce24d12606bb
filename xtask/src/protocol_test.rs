//! `cargo xtask protocol-test` (being built).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("not built yet".into())
}
