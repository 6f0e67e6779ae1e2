//! `[[auth]]`: picking the entry that applies, turning it into a credential
//! once per fetch (a login call or a Google token exchange, both cached), and
//! putting that credential on every request of the fetch.
//!
//! These are okrd's outgoing credentials, for the APIs a manifest calls
//! (incoming API tokens are `crate::auth`): `token_cache` keeps minted
//! tokens (`AccessTokenCache`), `google` mints them for Google service
//! accounts. Only the declarative engine uses them.

pub mod google;
pub mod token_cache;

use std::time::Duration;

use base64::Engine as _;
use serde_json_path::JsonPath;

use self::google::{ServiceAccountKey, access_token, forget_token};
use super::manifest::{AuthKind, AuthSpec};
use super::render::Vars;
use super::request::Built;
use crate::connectors::{FetchContext, FetchError, Reason};

pub use self::token_cache::{AccessTokenCache, MintedToken};

/// Longest a login token is kept, whatever the API says.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Refresh cached tokens this long before they expire.
const MARGIN: Duration = Duration::from_secs(5 * 60);

/// How one fetch's requests carry their credentials.
#[derive(Debug, Clone)]
pub enum Credential {
    None,
    Header(String, String),
    Query(String, String),
    Form(String, String),
}

impl Credential {
    pub fn apply(&self, req: &mut Built) -> Result<(), FetchError> {
        match self {
            Credential::None => {}
            Credential::Header(k, v) => {
                req.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
                req.headers.push((k.clone(), v.clone()));
                req.hidden.push(k.clone());
            }
            Credential::Query(k, v) => {
                req.set_query(k, v);
                req.hidden.push(k.clone());
            }
            Credential::Form(k, v) => {
                req.add_form_field(k, v)
                    .map_err(|m| FetchError::new(Reason::Parse, m))?;
                req.hidden.push(k.clone());
            }
        }
        Ok(())
    }
}

/// The first `[[auth]]` entry whose `when` holds.
pub fn select<'m>(auth: &'m [AuthSpec], vars: &Vars) -> Result<Option<&'m AuthSpec>, String> {
    for (i, a) in auth.iter().enumerate() {
        match &a.when {
            None => return Ok(Some(a)),
            Some(w) if vars.holds(w, &format!("auth[{i}].when"))? => return Ok(Some(a)),
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Render what the credential needs from the params, without any request,
/// so a missing param (Jira Cloud's `email`) is reported at startup.
pub fn check(spec: Option<&AuthSpec>, vars: &Vars) -> Result<(), String> {
    let Some(spec) = spec else { return Ok(()) };
    let fields = [
        ("token", &spec.token),
        ("username", &spec.username),
        ("password", &spec.password),
        ("name", &spec.name),
        ("value", &spec.value),
        ("credentials", &spec.credentials),
    ];
    match spec.kind {
        AuthKind::Login => {
            if let Some(req) = &spec.request {
                Built::from_spec(req, vars, "auth.request")?;
            }
        }
        _ => {
            for (name, field) in fields {
                if let Some(t) = field {
                    vars.render(t, &format!("auth.{name}"))?;
                }
            }
        }
    }
    if spec.kind == AuthKind::GoogleServiceAccount
        && let Some(t) = &spec.credentials
    {
        let text = vars.render(t, "auth.credentials")?;
        // A placeholder stands in for a secret `okrd check` cannot read here.
        if text.trim_start().starts_with('{') {
            ServiceAccountKey::from_json(&text)
                .map_err(|e| format!("the service-account key is not usable: {e}"))?;
        }
    }
    Ok(())
}

/// The credential for this fetch.
pub async fn credential(
    spec: Option<&AuthSpec>,
    vars: &Vars,
    ctx: &FetchContext<'_>,
    cache: &AccessTokenCache,
) -> Result<Credential, FetchError> {
    let Some(spec) = spec else {
        return Ok(Credential::None);
    };
    let render = |field: &Option<String>, name: &str| -> Result<String, FetchError> {
        let t = field.as_deref().unwrap_or("");
        vars.render(t, &format!("auth.{name}"))
            .map_err(|m| FetchError::new(Reason::Parse, ctx.redactor.redact(&m)))
    };
    Ok(match spec.kind {
        AuthKind::Bearer => Credential::Header(
            "Authorization".into(),
            format!("Bearer {}", render(&spec.token, "token")?),
        ),
        AuthKind::Basic => {
            let pair = format!(
                "{}:{}",
                render(&spec.username, "username")?,
                render(&spec.password, "password")?
            );
            Credential::Header(
                "Authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            )
        }
        AuthKind::Header => {
            Credential::Header(render(&spec.name, "name")?, render(&spec.value, "value")?)
        }
        AuthKind::Query => {
            Credential::Query(render(&spec.name, "name")?, render(&spec.value, "value")?)
        }
        AuthKind::Form => {
            Credential::Form(render(&spec.name, "name")?, render(&spec.value, "value")?)
        }
        AuthKind::Login => login(spec, vars, ctx, cache).await?,
        AuthKind::GoogleServiceAccount => {
            let text = render(&spec.credentials, "credentials")?;
            let key = ServiceAccountKey::from_json(&text).map_err(|m| {
                FetchError::new(
                    Reason::Auth,
                    format!("the service-account key is not usable: {m}"),
                )
            })?;
            let token = access_token(
                &key,
                &spec.scopes,
                ctx.http,
                ctx.timeout,
                ctx.redactor,
                cache,
            )
            .await?;
            ctx.redactor.remember(&token);
            Credential::Header("Authorization".into(), format!("Bearer {token}"))
        }
    })
}

impl Credential {
    /// The token or key this credential carries.
    fn secret(&self) -> Option<&str> {
        match self {
            Credential::None => None,
            Credential::Header(_, v) => Some(v.strip_prefix("Bearer ").unwrap_or(v)),
            Credential::Query(_, v) | Credential::Form(_, v) => Some(v),
        }
    }
}

/// Whether a refused request may be retried with a fresh token.
pub fn is_minted(spec: Option<&AuthSpec>) -> bool {
    spec.is_some_and(|s| matches!(s.kind, AuthKind::Login | AuthKind::GoogleServiceAccount))
}

/// Forget a cached token the API refused, so the next credential is fresh.
pub fn forget(
    spec: Option<&AuthSpec>,
    vars: &Vars,
    cache: &AccessTokenCache,
    refused: &Credential,
) {
    let (Some(spec), Some(token)) = (spec, refused.secret()) else {
        return;
    };
    match spec.kind {
        AuthKind::Login => {
            if let Some(req) = &spec.request
                && let Ok(built) = Built::from_spec(req, vars, "auth.request")
            {
                cache.invalidate(&login_key(&built), token);
            }
        }
        AuthKind::GoogleServiceAccount => {
            let text = vars.render(
                spec.credentials.as_deref().unwrap_or(""),
                "auth.credentials",
            );
            if let Ok(key) = text.and_then(|t| ServiceAccountKey::from_json(&t)) {
                forget_token(&key, &spec.scopes, cache, token);
            }
        }
        _ => {}
    }
}

async fn login(
    spec: &AuthSpec,
    vars: &Vars,
    ctx: &FetchContext<'_>,
    cache: &AccessTokenCache,
) -> Result<Credential, FetchError> {
    let parse = |m: String| FetchError::new(Reason::Parse, ctx.redactor.redact(&m));
    let req_spec = spec
        .request
        .as_ref()
        .ok_or_else(|| parse("auth: login needs a request".into()))?;
    let built = Built::from_spec(req_spec, vars, "auth.request").map_err(parse)?;
    let token_path = vars.render(spec.token.as_deref().unwrap_or("$.token"), "auth.token");
    let token_path = JsonPath::parse(&token_path.map_err(parse)?)
        .map_err(|e| parse(format!("auth.token: {e}")))?;
    let expiry_path = match &spec.expires_in {
        None => None,
        Some(p) => Some(JsonPath::parse(p).map_err(|e| parse(format!("auth.expires_in: {e}")))?),
    };
    let ttl = spec
        .ttl
        .as_deref()
        .map(crate::duration::parse_duration)
        .transpose()
        .map_err(parse)?
        .unwrap_or(Duration::from_secs(3600));
    let key = login_key(&built);
    let token = cache
        .get_or_mint(&key, MARGIN.min(ttl / 2), || async {
            let resp = ctx
                .http
                .send(built.to_reqwest(ctx.http), ctx.timeout, ctx.redactor)
                .await
                .map_err(|e| FetchError {
                    message: format!("login: {}", e.message),
                    ..e
                })?;
            let json = resp.json()?;
            let token = token_path
                .query(&json)
                .first()
                .and_then(|v| v.as_str())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| FetchError::new(Reason::Auth, "login: the answer holds no token"))?
                .to_string();
            let expires_in = expiry_path
                .as_ref()
                .and_then(|p| p.query(&json).first().and_then(|v| v.as_f64()))
                .filter(|s| *s > 0.0)
                // An absurd lifetime from the API must not overflow.
                .map(|s| Duration::from_secs_f64(s.min(MAX_TOKEN_TTL.as_secs_f64())))
                .or(Some(ttl));
            Ok(MintedToken { token, expires_in })
        })
        .await?;
    // At every use, not only at the mint: a reload builds a new redactor
    // while the cache keeps its tokens.
    ctx.redactor.remember(&token);
    let send_as = spec.send_as.as_deref().unwrap_or("bearer");
    Ok(if let Some(name) = send_as.strip_prefix("header:") {
        Credential::Header(name.to_string(), token.to_string())
    } else if let Some(name) = send_as.strip_prefix("query:") {
        Credential::Query(name.to_string(), token.to_string())
    } else {
        Credential::Header("Authorization".into(), format!("Bearer {token}"))
    })
}

/// Tokens are cached per login request (URL and credentials), so two
/// sources with different accounts never share one.
fn login_key(built: &Built) -> String {
    format!("login {} {:?}", built.url, built.body)
}
