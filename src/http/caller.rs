//! Who calls: the bearer token (read once per request), the profile a legal representative
//! selects with `X-Acting-For` (two of them are refused as ambiguous), and the key the rate
//! limit counts.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::auth::{Authenticator, Caller};
use crate::graphql::error::ErrorCode;

use super::{AppState, refuse};

/// Reads the bearer token, if any, once for the whole request. Two `Authorization` headers are
/// refused: a proxy and the API could each read a different one.
pub(super) async fn caller(auth: &Authenticator, headers: &HeaderMap) -> Caller {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Caller::Anonymous;
    };
    if values.next().is_some() {
        return Caller::Refused("send exactly one Authorization header".to_owned());
    }
    let token = value.to_str().ok().and_then(bearer_token);
    match token {
        Some(token) => match auth.authenticate(token.trim()).await {
            Ok(crate::auth::SignedIn::Actor(actor)) => Caller::Authenticated(actor),
            Ok(crate::auth::SignedIn::Account(account)) => Caller::Unlinked(account),
            Err(reason) => Caller::Refused(reason),
        },
        None => Caller::Refused("the Authorization header must be 'Bearer <token>'".to_owned()),
    }
}

/// The header with which a patient who is a minor's legal representative selects the minor's
/// profile to act on (its INS); without it, or with their own INS, they act on their own.
const ACTING_FOR: header::HeaderName = header::HeaderName::from_static("x-acting-for");

/// Resolves a patient's provider account ([`resolve_account`]), then applies the profile
/// selection of `X-Acting-For` (a header over HTTP, `actingFor` in a websocket's
/// `connection_init`): a patient who is a current legal representative of that INS
/// acts on it, as themselves; anyone else is refused.
pub(super) async fn acting_for(
    services: &crate::services::Services,
    caller: Caller,
    selected: Selection<'_>,
) -> Caller {
    let caller = resolve_account(services, caller).await;
    let selected = match selected {
        Selection::Own => return caller,
        Selection::Profile(ins) => ins,
        Selection::Ambiguous => {
            return Caller::Forbidden(
                "send at most one X-Acting-For header: two select no profile".to_owned(),
            );
        }
    };
    let (ins, name) = match caller {
        Caller::Authenticated(crate::domain::Actor::Patient { ins, name }) => (ins, name),
        Caller::Authenticated(_) => {
            return Caller::Forbidden(
                "X-Acting-For is for a patient acting on a minor's profile".to_owned(),
            );
        }
        other => return other,
    };
    let Ok(child) = crate::domain::Ins::parse(selected.trim()) else {
        return Caller::Forbidden(
            "X-Acting-For must be the INS of the profile to act on".to_owned(),
        );
    };
    if child == ins {
        return Caller::Authenticated(crate::domain::Actor::Patient { ins, name });
    }
    match services.represents(&ins, &child).await {
        Ok(true) => {
            Caller::Authenticated(crate::domain::Actor::Representative { child, ins, name })
        }
        Ok(false) => Caller::Forbidden(
            "you are not a legal representative of this person (or no longer: they are 18)"
                .to_owned(),
        ),
        Err(err) => {
            tracing::warn!(error.cause = %err.message(), "representation check failed");
            Caller::Unavailable("the representation could not be checked: retry".to_owned())
        }
    }
}

/// Turns a patient's provider account into the patient its binding names (`Unlinked` when
/// none does); any other caller is returned as it is.
pub(super) async fn resolve_account(
    services: &crate::services::Services,
    caller: Caller,
) -> Caller {
    let Caller::Unlinked(account) = caller else {
        return caller;
    };
    match services.linked_patient(&account).await {
        Ok(crate::services::Linked::To(ins)) => {
            Caller::Authenticated(crate::domain::Actor::Patient {
                ins,
                name: account.name,
            })
        }
        Ok(crate::services::Linked::Nothing) => Caller::Unlinked(account),
        Ok(crate::services::Linked::UnlinkedSince) => Caller::Refused(
            "this token was issued before its account was unlinked: sign in again".to_owned(),
        ),
        Err(err) => {
            tracing::warn!(error.cause = %err.message(), "account binding look-up failed");
            Caller::Unavailable("the sign-in account could not be checked: retry".to_owned())
        }
    }
}

/// The profile an HTTP request selects with `X-Acting-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Selection<'a> {
    /// None: the caller acts on their own profile.
    Own,
    /// This INS (an unreadable header selects one that does not exist, and is refused).
    Profile(&'a str),
    /// Two headers or more: a proxy and the API could each read a different one.
    Ambiguous,
}

/// The profile an HTTP request selects with `X-Acting-For`.
pub(super) fn selected_profile(headers: &HeaderMap) -> Selection<'_> {
    let mut values = headers.get_all(ACTING_FOR).iter();
    match (values.next(), values.next()) {
        (None, _) => Selection::Own,
        (Some(value), None) => Selection::Profile(value.to_str().unwrap_or("?")),
        (Some(_), Some(_)) => Selection::Ambiguous,
    }
}

/// The key the rate limit counts a request under: the signed-in actor, or the client's
/// address without a valid token.
pub(super) fn rate_key(
    actor: Option<&crate::domain::Actor>,
    client: Option<std::net::SocketAddr>,
) -> String {
    match actor {
        Some(actor) => {
            let actor = actor.to_ref();
            format!("{:?}:{}", actor.role, actor.id)
        }
        None => client.map_or_else(|| "ip:?".to_owned(), |client| address_key(client.ip())),
    }
}

/// The key of an anonymous caller's address: an IPv4 address, or the /64 network of an IPv6
/// one (a single host is usually given a whole /64: counting each address would give it
/// billions of buckets).
fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("ip:{v4}"),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Takes one request of `key`'s rate; over it, the refusal: `TOO_MANY_REQUESTS` with
/// `Retry-After`.
pub(super) async fn over_rate(state: &AppState, key: &str) -> Option<Response> {
    let wait = state.limiter.take(key).await.err()?;
    let mut response = refuse(
        ErrorCode::TooManyRequests,
        format!("too many requests: retry in {wait} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Some(response)
}

/// The client's address, when the serve loop recorded it: the rate key of a caller without a
/// token.
pub(super) struct ClientAddr(pub(super) Option<std::net::SocketAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is matched in any case
/// (RFC 7235).
pub(super) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn an_ipv6_caller_is_counted_by_its_64_network() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
    }
}
