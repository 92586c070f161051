//! Where a node serves: `http://host[:port]`, and request targets below it.

use core::fmt;
use core::str::FromStr;

use http::Uri;

use super::error::TransportError;

/// The base URL of a node: scheme `http`, a host and an optional port, no
/// path, query or user info. HTTPS is refused on purpose: peergroup runs
/// over LAN HTTP and authenticates every request and response itself.
///
/// ```
/// use peer_http::client::BaseUrl;
///
/// let base: BaseUrl = "http://127.0.0.1:8080/".parse().unwrap();
/// assert_eq!(base.as_str(), "http://127.0.0.1:8080");
/// assert_eq!(base.join("/api/v1/node").unwrap().to_string(), "http://127.0.0.1:8080/api/v1/node");
/// assert!("https://example.org".parse::<BaseUrl>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// `http://host:port`, the host in lower case, no trailing slash.
    text: String,
    authority: String,
}

impl BaseUrl {
    /// Parses and checks a base URL.
    pub fn parse(text: &str) -> Result<Self, TransportError> {
        let uri: Uri = text
            .trim()
            .parse()
            .map_err(|_| TransportError::InvalidUrl("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(TransportError::InvalidUrl(
                    "https is not supported: peergroup nodes serve plain HTTP on the LAN",
                ));
            }
            _ => return Err(TransportError::InvalidUrl("the scheme must be http://")),
        }
        let Some(authority) = uri.authority() else {
            return Err(TransportError::InvalidUrl("no host"));
        };
        if authority.as_str().contains('@') {
            return Err(TransportError::InvalidUrl("user info is not allowed"));
        }
        if authority.host().is_empty() {
            return Err(TransportError::InvalidUrl("no host"));
        }
        if let Some(pq) = uri.path_and_query()
            && (pq.query().is_some() || !matches!(pq.path(), "" | "/"))
        {
            return Err(TransportError::InvalidUrl(
                "a base URL has no path or query (http://host:port)",
            ));
        }
        let authority = authority.as_str().to_ascii_lowercase();
        Ok(BaseUrl {
            text: format!("http://{authority}"),
            authority,
        })
    }

    /// `http://host:port` as text (normalised: lower-case host, no
    /// trailing slash).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The absolute URI of `path_and_query` (which must start with `/`)
    /// on this node.
    pub fn join(&self, path_and_query: &str) -> Result<Uri, TransportError> {
        if !path_and_query.starts_with('/') {
            return Err(TransportError::InvalidUrl(
                "a request target must start with /",
            ));
        }
        format!("{}{}", self.text, path_and_query)
            .parse()
            .map_err(|_| TransportError::InvalidUrl("invalid request target"))
    }
}

impl FromStr for BaseUrl {
    type Err = TransportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BaseUrl::parse(s)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_host_port() {
        for (input, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("HTTP://LocalHost:1", "http://localhost:1"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("  http://node.lan  ", "http://node.lan"),
        ] {
            let b = BaseUrl::parse(input).unwrap();
            assert_eq!(b.as_str(), want, "{input}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "127.0.0.1:8080",
            "https://node.lan",
            "ftp://node.lan",
            "http://node.lan/prefix",
            "http://node.lan/?q=1",
            "http://user:pw@node.lan",
            "http:///x",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn join_needs_an_absolute_path() {
        let b = BaseUrl::parse("http://h:1").unwrap();
        assert_eq!(
            b.join("/a?b=c").unwrap().path_and_query().unwrap().as_str(),
            "/a?b=c"
        );
        assert!(b.join("a").is_err());
        assert!(b.join("/a b").is_err());
    }
}
