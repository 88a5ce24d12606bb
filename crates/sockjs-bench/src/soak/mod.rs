//! `cargo xtask soak`'s load: three scenarios of `sockjs-loadgen` that look
//! for lost messages, leaks and unclean ends rather than speed.
//!
//! - `soak` ([`mixed`]): sessions on every transport open, exchange
//!   messages and end in every way (client close, server close, aborted
//!   receivers, clients that stop reading), `--clients` at a time for
//!   `--run-s` seconds; every message is accounted for ([`ledger`]), the
//!   server's RSS must stay within a bound ([`memory`]) and no session may
//!   be left over.
//!   With `--faults N`, N more clients run echo sessions through a
//!   userland [fault proxy](crate::faults) at the same time ([`faulty`]):
//!   nothing acknowledged may be lost without a fault or a documented end
//!   to explain it, nothing received twice or out of order.
//! - `soak-shutdown` ([`shutdown`]): SIGTERM with clients on every
//!   transport holding queued messages: all arrive, then the 1001 close and
//!   a clean end, and the process exits in time.
//! - `soak-storm` ([`storm`]): hundreds of websocket and xhr-streaming
//!   sessions opening at once.
//! - `soak-resume` ([`resume`]): resuming clients receive a numbered stream
//!   from a room with history while their connections are cut (by the
//!   server, and with `--faults` by the fault proxy): every message once,
//!   in order, or a `lost` answer for a gap larger than the history.
//!
//! Each prints a one-line JSON summary on standard output (the report's
//! top-level figures) and, with `--out PATH`, writes its full report to
//! `PATH.json` and `PATH.md` (without, the markdown goes to standard error).

mod faulty;
mod ledger;
mod link;
mod memory;
mod mixed;
mod payload;
mod plan;
mod resume;
mod rng;
mod server;
mod session;
mod shutdown;
mod storm;
mod tally;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::Ctx;

/// The transports a soak client speaks: all of them.
pub(crate) use sockjs_proto::Transport;

/// A scenario's full report.
pub(crate) struct Report {
    pub(crate) json: Value,
    /// A markdown fragment (tables and the key figures).
    pub(crate) md: String,
}

/// Runs soak scenario `name`; returns the one-line summary.
pub(crate) async fn run(ctx: Arc<Ctx>, name: &str) -> Result<Value, String> {
    let report = match name {
        "soak" => mixed::run(ctx.clone()).await?,
        "soak-shutdown" => shutdown::run(ctx.clone()).await?,
        "soak-storm" => storm::run(ctx.clone()).await?,
        "soak-resume" => resume::run(ctx.clone()).await?,
        other => return Err(format!("unknown soak scenario {other}")),
    };
    let mut json = report.json;
    json["errors"] = ctx.errors.count().into();
    match &ctx.args.out {
        Some(out) => {
            let write = |ext: &str, text: &str| {
                let path = format!("{}.{ext}", out.display());
                std::fs::write(&path, text).map_err(|e| format!("{path}: {e}"))
            };
            write("json", &format!("{json:#}\n"))?;
            write("md", &report.md)?;
        }
        None => eprintln!("{}", report.md),
    }
    Ok(summary(name, &json))
}

/// The report's top-level scalars (nested tables stay in the file).
fn summary(name: &str, report: &Value) -> Value {
    let mut flat = serde_json::Map::new();
    flat.insert("scenario".into(), json!(name));
    if let Value::Object(fields) = report {
        for (k, v) in fields {
            if !v.is_object() && !v.is_array() {
                flat.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_keeps_scalars_only() {
        let s = summary(
            "soak",
            &json!({"a": 1, "b": "x", "c": [1], "d": {"e": 2}, "f": null}),
        );
        assert_eq!(s, json!({"scenario": "soak", "a": 1, "b": "x", "f": null}));
    }
}
