//! The checks: one named check per requirement of the SockJS protocol, grouped
//! by the part of the protocol they cover. [`all`] lists them in order.

#[macro_use]
mod support;

mod closing;
mod cookie;
mod encoding;
mod framing;
mod http_versions;
mod iframe;
mod info;
mod jsonp;
mod payloads;
mod security;
mod security_budgets;
mod streaming;
mod urls;
mod websocket;
mod xhr;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::client::{self, Target};

/// Why a check failed: what was looked at, what was expected, what came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<client::Error> for Failure {
    fn from(e: client::Error) -> Self {
        Failure(e.0)
    }
}

/// A passed check, with an optional remark (e.g. which of two allowed
/// behaviours the server chose).
pub type Outcome = Result<Option<String>, Failure>;

/// What a check gets: the server and its configured delays.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The server under test.
    pub target: Target,
    /// The server's `disconnect_delay`.
    pub disconnect_delay: Duration,
    /// The server's `heartbeat_delay`.
    pub heartbeat_delay: Duration,
    /// Open→close cycles each `closing/` check runs.
    pub close_cycles: usize,
    /// Strict mode, for a server that claims this project's exact
    /// behaviour: exact close codes and reasons everywhere, a close frame
    /// then a FIN (never a reset) at the end of every WebSocket, hixie-76
    /// spoken rather than refused. Off, the suite allows what sockjs-node
    /// 0.3.24 legitimately does differently; each such allowance says why
    /// where it is made.
    pub strict: bool,
}

type CheckFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// `group/name`, stable, used by `--filter` and expected-failure lists.
    pub name: &'static str,
    /// The requirement it checks, in one line.
    pub about: &'static str,
    run: fn(Ctx) -> CheckFuture,
}

impl Check {
    /// Runs the check.
    pub fn run(&self, ctx: Ctx) -> impl Future<Output = Outcome> + Send + 'static {
        (self.run)(ctx)
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// Every check, in protocol order.
pub fn all() -> Vec<Check> {
    let mut v = Vec::new();
    v.extend(urls::list());
    v.extend(info::list());
    v.extend(iframe::list());
    v.extend(framing::list());
    v.extend(xhr::list());
    v.extend(streaming::list());
    v.extend(jsonp::list());
    v.extend(payloads::list());
    v.extend(cookie::list());
    v.extend(websocket::list());
    v.extend(encoding::list());
    v.extend(http_versions::list());
    v.extend(closing::list());
    v.extend(security::list());
    v.extend(security_budgets::list());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let checks = all();
        let mut names: Vec<_> = checks.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate check names");
        for c in &checks {
            assert!(c.name.contains('/') && !c.name.contains(' '), "{}", c.name);
            assert!(!c.about.is_empty(), "{}", c.name);
        }
    }
}
