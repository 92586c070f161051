//! The route table: every endpoint of api.md in one place, with its method,
//! path pattern, authentication and handler. [`find`] matches a request
//! against it.

use http::Method;

use super::handlers::{self as h, Handler};
use super::web;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Anyone; credentials are ignored.
    Public,
    /// A user's session (per-request authenticator) or a bearer token. A
    /// peer node's session is refused (`forbidden`).
    User,
    /// A peer node's session only (node-to-node endpoints). Users' sessions
    /// and bearer tokens are refused.
    Peer,
}

/// Where a route is served when this node follows a main peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serve {
    /// By this node, whatever its role (node information, health, peers).
    Here,
    /// By the main peer: a follower relays the request unchanged (the
    /// client API). Otherwise by this node.
    Main,
}

/// One endpoint.
pub(crate) struct Route {
    pub(crate) method: Method,
    /// Segments; `{name}` captures one segment, a last `{*name}` the
    /// (non-empty) rest of the path.
    pub(crate) pattern: &'static str,
    pub(crate) auth: Auth,
    pub(crate) serve: Serve,
    pub(crate) handler: Handler,
}

const fn route(
    method: Method,
    pattern: &'static str,
    auth: Auth,
    serve: Serve,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        auth,
        serve,
        handler,
    }
}

use Auth::{Peer, Public, User};
use Serve::{Here, Main};

/// The event-stream route (a follower serves it itself, from pushes, after
/// the main peer checked the client's credentials).
pub(crate) const EVENTS: &str = "/api/v1/events";

/// The handshake route (a follower answers peer nodes' handshakes itself).
pub(crate) const HANDSHAKE: &str = "/api/v1/handshake";

/// Every endpoint (each is in docs/openapi.yaml, by test).
pub(crate) static ROUTES: &[Route] = &[
    route(Method::GET, "/", Public, Here, web::serve),
    route(Method::GET, web::ASSETS, Public, Here, web::serve),
    route(Method::GET, "/healthz", Public, Here, h::health),
    route(Method::GET, "/metrics", Public, Here, h::metrics),
    route(
        Method::GET,
        "/api/v1/openapi.json",
        Public,
        Here,
        h::openapi,
    ),
    route(Method::GET, "/api/v1/node", Public, Here, h::node_info),
    route(Method::GET, "/api/v1/peers", Public, Here, h::list_peers),
    route(
        Method::POST,
        "/api/v1/peers",
        Public,
        Here,
        h::register_peer,
    ),
    route(
        Method::DELETE,
        "/api/v1/peers/{node_id}",
        Public,
        Here,
        h::leave_peer,
    ),
    route(Method::POST, "/api/v1/notify", Peer, Here, h::notify),
    route(
        Method::POST,
        "/api/v1/relay/events",
        Peer,
        Here,
        h::relay_events,
    ),
    route(
        Method::POST,
        "/api/v1/users",
        Public,
        Main,
        h::register_user,
    ),
    route(Method::GET, "/api/v1/users", User, Main, h::list_users),
    route(
        Method::GET,
        "/api/v1/users/{user_id}",
        User,
        Main,
        h::get_user,
    ),
    route(Method::POST, HANDSHAKE, Public, Main, h::handshake),
    route(
        Method::DELETE,
        "/api/v1/session",
        User,
        Main,
        h::end_session,
    ),
    route(Method::POST, "/api/v1/tokens", User, Main, h::issue_token),
    route(Method::GET, "/api/v1/rooms", User, Main, h::list_rooms),
    route(Method::POST, "/api/v1/rooms", User, Main, h::create_room),
    route(
        Method::GET,
        "/api/v1/rooms/{room_id}",
        User,
        Main,
        h::get_room,
    ),
    route(
        Method::PATCH,
        "/api/v1/rooms/{room_id}",
        User,
        Main,
        h::update_room,
    ),
    route(
        Method::DELETE,
        "/api/v1/rooms/{room_id}",
        User,
        Main,
        h::delete_room,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/join",
        User,
        Main,
        h::join_room,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/leave",
        User,
        Main,
        h::leave_room,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/kick",
        User,
        Main,
        h::kick,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/roles",
        User,
        Main,
        h::set_role,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/invites",
        User,
        Main,
        h::create_invite,
    ),
    route(
        Method::GET,
        "/api/v1/rooms/{room_id}/keys",
        User,
        Main,
        h::get_keys,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/keys",
        User,
        Main,
        h::post_keys,
    ),
    route(
        Method::GET,
        "/api/v1/rooms/{room_id}/messages",
        User,
        Main,
        h::list_messages,
    ),
    route(
        Method::POST,
        "/api/v1/rooms/{room_id}/messages",
        User,
        Main,
        h::post_message,
    ),
    route(
        Method::DELETE,
        "/api/v1/rooms/{room_id}/messages/{seq}",
        User,
        Main,
        h::delete_message,
    ),
    route(Method::GET, EVENTS, User, Main, h::events),
];

/// Path parameters captured by a match, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The value captured for `{name}`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of matching a request.
pub(crate) enum Lookup {
    /// A route, with its parameters.
    Route(&'static Route, Params),
    /// The path exists with other methods (for `Allow`); the pattern is the
    /// metrics label.
    MethodNotAllowed {
        pattern: &'static str,
        allow: Vec<&'static str>,
    },
    /// No route has this path.
    NotFound,
}

/// Matches `method` and `path` (without the query) against [`ROUTES`].
pub(crate) fn find(method: &Method, path: &str) -> Lookup {
    let mut allow = Vec::new();
    let mut pattern_seen = None;
    for r in ROUTES {
        let Some(params) = match_path(r.pattern, path) else {
            continue;
        };
        if r.method == *method {
            return Lookup::Route(r, params);
        }
        pattern_seen.get_or_insert(r.pattern);
        allow.push(r.method.as_str());
    }
    match pattern_seen {
        Some(pattern) => Lookup::MethodNotAllowed { pattern, allow },
        None => Lookup::NotFound,
    }
}

fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix("{*").and_then(|w| w.strip_suffix('}')) {
                    let rest: Vec<&str> = std::iter::once(g).chain(got).collect();
                    let rest = rest.join("/");
                    if rest.is_empty() {
                        return None;
                    }
                    params.push((name, rest));
                    return Some(Params(params));
                }
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_owned()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_patterns_and_captures() {
        let Lookup::Route(r, p) = find(&Method::DELETE, "/api/v1/rooms/abc/messages/7") else {
            panic!("no match");
        };
        assert_eq!(r.pattern, "/api/v1/rooms/{room_id}/messages/{seq}");
        assert_eq!(p.get("room_id"), Some("abc"));
        assert_eq!(p.get("seq"), Some("7"));
        assert!(matches!(find(&Method::GET, "/"), Lookup::Route(..)));
        assert!(matches!(
            find(&Method::GET, "/api/v1/rooms/"),
            Lookup::NotFound
        ));
        assert!(matches!(
            find(&Method::GET, "/api/v1/nope"),
            Lookup::NotFound
        ));
        assert!(matches!(
            find(&Method::GET, "/api/v1/rooms//keys"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn a_rest_pattern_captures_the_rest_of_the_path() {
        let Lookup::Route(r, p) = find(&Method::GET, "/assets/lib/a/b.js") else {
            panic!("no match");
        };
        assert_eq!(r.pattern, web::ASSETS);
        assert_eq!(p.get("path"), Some("lib/a/b.js"));
        assert!(matches!(find(&Method::GET, "/assets/"), Lookup::NotFound));
        assert!(matches!(find(&Method::GET, "/assets"), Lookup::NotFound));
        assert!(matches!(
            find(&Method::POST, "/assets/app/main.js"),
            Lookup::MethodNotAllowed { .. }
        ));
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        let Lookup::MethodNotAllowed { pattern, allow } = find(&Method::PUT, "/api/v1/rooms/x")
        else {
            panic!("expected 405");
        };
        assert_eq!(pattern, "/api/v1/rooms/{room_id}");
        assert_eq!(allow, vec!["GET", "PATCH", "DELETE"]);
    }

    #[test]
    fn the_client_api_is_served_by_the_main_peer_and_node_routes_here() {
        for r in ROUTES {
            let client_api = r.auth == Auth::User
                || r.pattern == "/api/v1/users"
                || r.pattern == "/api/v1/handshake";
            assert_eq!(
                r.serve == Serve::Main,
                client_api,
                "{} {}",
                r.method,
                r.pattern
            );
        }
    }

    #[test]
    fn no_two_routes_share_method_and_pattern() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }
}
