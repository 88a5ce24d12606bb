//! The attributes of the `JSESSIONID` cookie
//! ([`Config::jsessionid_cookie`](crate::Config::jsessionid_cookie)).

use http::{HeaderMap, HeaderValue};

/// How the `JSESSIONID` cookie is written, for
/// [`Config::jsessionid_cookie`](crate::Config::jsessionid_cookie): its
/// value is the request's own `JSESSIONID` cookie, or `dummy`, as with
/// [`Config::jsessionid(true)`](crate::Config::jsessionid); its path is `/`;
/// and these attributes are added. `Jsessionid::new()` adds none, so it
/// writes what `jsessionid(true)` writes (`JSESSIONID=dummy; path=/`).
///
/// When the page using SockJS is on another site than the service (a
/// cross-site embed, or the iframe transports' page talking to a service on
/// another site), browsers only send the cookie back under
/// `SameSite=None; Secure`; without it a load balancer that sticks on the
/// cookie loses the session. On a same-site deployment, `Lax` (or
/// `Strict`) keeps the cookie out of other sites' requests. `HttpOnly`
/// hides it from page scripts: sockjs-client never reads it.
///
/// ```
/// use axum::body::Body;
/// use axum::http::Request;
/// use sockjs::{Config, Jsessionid, SameSite, Session, SockJsRouter};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cookie = Jsessionid::new().http_only(true).same_site(SameSite::None);
/// let app = SockJsRouter::new(|_session: Session| async {})
///     .config(Config::default().jsessionid_cookie(cookie))
///     .into_router::<()>();
/// let request = Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(
///     response.headers()["set-cookie"],
///     "JSESSIONID=dummy; path=/; Secure; HttpOnly; SameSite=None"
/// );
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Jsessionid {
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

/// The `SameSite` attribute of a cookie: which cross-site requests carry
/// it back.
///
/// ```
/// use sockjs::{Config, Jsessionid, SameSite};
///
/// // The page is on https://app.example, the service on https://rt.example.net:
/// // the cookie has to come back on cross-site requests.
/// let config = Config::default().jsessionid_cookie(Jsessionid::new().same_site(SameSite::None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Only same-site requests.
    Strict,
    /// Same-site requests and top-level navigations to the site.
    Lax,
    /// Every request, cross-site ones included; browsers require
    /// `Secure` with it, so [`Jsessionid`] writes `Secure` too.
    None,
}

impl Jsessionid {
    /// The cookie without attributes beyond `path=/`.
    ///
    /// ```
    /// let cookie = sockjs::Jsessionid::new();
    /// assert_eq!(cookie, sockjs::Jsessionid::default());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Jsessionid::default()
    }

    /// Whether to write `Secure`: browsers send the cookie back over HTTPS
    /// only. Default: no, unless [`SameSite::None`].
    ///
    /// ```
    /// let cookie = sockjs::Jsessionid::new().secure(true);
    /// ```
    #[must_use]
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// Whether to write `HttpOnly`: page scripts cannot read the cookie.
    /// Default: no.
    ///
    /// ```
    /// let cookie = sockjs::Jsessionid::new().http_only(true);
    /// ```
    #[must_use]
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }

    /// The `SameSite` attribute. [`SameSite::None`] writes `Secure` as
    /// well, whatever [`secure`](Self::secure) says: browsers drop a
    /// `SameSite=None` cookie without it. Default: none written (browsers
    /// then treat the cookie as `Lax`).
    ///
    /// ```
    /// use sockjs::{Jsessionid, SameSite};
    ///
    /// let cookie = Jsessionid::new().same_site(SameSite::Lax);
    /// ```
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// The `Set-Cookie` value for a request with `headers`.
    pub(crate) fn set_cookie(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let value = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == "JSESSIONID").then_some(value)
            })
            .unwrap_or("dummy");
        let mut cookie = format!("JSESSIONID={value}; path=/");
        if self.secure || self.same_site == Some(SameSite::None) {
            cookie.push_str("; Secure");
        }
        if self.http_only {
            cookie.push_str("; HttpOnly");
        }
        cookie.push_str(match self.same_site {
            Some(SameSite::Strict) => "; SameSite=Strict",
            Some(SameSite::Lax) => "; SameSite=Lax",
            Some(SameSite::None) => "; SameSite=None",
            None => "",
        });
        HeaderValue::from_str(&cookie).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_written_in_order() {
        let mut echoed = HeaderMap::new();
        echoed.insert("cookie", HeaderValue::from_static("a=b; JSESSIONID=abcdef"));
        for (cookie, headers, expected) in [
            (
                Jsessionid::new(),
                HeaderMap::new(),
                "JSESSIONID=dummy; path=/",
            ),
            (
                Jsessionid::new(),
                echoed.clone(),
                "JSESSIONID=abcdef; path=/",
            ),
            (
                Jsessionid::new().secure(true).http_only(true),
                HeaderMap::new(),
                "JSESSIONID=dummy; path=/; Secure; HttpOnly",
            ),
            (
                Jsessionid::new().same_site(SameSite::Strict),
                echoed,
                "JSESSIONID=abcdef; path=/; SameSite=Strict",
            ),
            (
                Jsessionid::new().secure(true).same_site(SameSite::Lax),
                HeaderMap::new(),
                "JSESSIONID=dummy; path=/; Secure; SameSite=Lax",
            ),
            (
                Jsessionid::new().secure(false).same_site(SameSite::None),
                HeaderMap::new(),
                "JSESSIONID=dummy; path=/; Secure; SameSite=None",
            ),
        ] {
            assert_eq!(cookie.set_cookie(&headers).unwrap(), expected);
        }
    }
}
