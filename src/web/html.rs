//! What every HTML page shares: escaping, the style, and the headers that
//! keep a page out of caches and frames and let it run no script. Every
//! text that reaches a page (titles, names, failure reasons) goes through
//! `esc`, so what a config file, an OKR file or a remote server wrote can
//! never become markup.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}\
.obj{margin:.8rem 0 .8rem 0;padding-left:.8rem;border-left:3px solid #ddd}\
.kr{display:grid;grid-template-columns:1fr 15rem 12rem 6rem;gap:.6rem;align-items:center;padding:.15rem 0}\
.bar{background:#eee;height:.6rem;border-radius:.3rem;overflow:hidden}.bar span{display:block;height:100%;background:#4a7}\
.st{font-size:.8rem;padding:.05rem .4rem;border-radius:.6rem;text-align:center}\
.done{background:#cfe8ff}.on_track{background:#d4f2dc}.at_risk{background:#ffefc2}.off_track{background:#ffd6d1}.no_data{background:#eee}\
table{border-collapse:collapse}td,th{padding:.2rem .8rem;text-align:left;border-bottom:1px solid #eee}\
.muted{color:#777;font-size:.85rem}form.inline{display:inline}\
.notice{background:#ffd6d1;padding:.4rem .8rem;border-radius:.3rem}input[type=password]{width:28rem;max-width:100%}";

/// No script at all, styles only inline, forms only to this server, never
/// in a frame (no clickjacking of the sign-in form).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `s` with the five characters that matter in HTML text and attributes escaped.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The document around `body`; `refresh` reloads it every 10 s.
pub fn document(title: &str, body: &str, refresh: bool) -> String {
    let refresh = if refresh {
        "<meta http-equiv=refresh content=10>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html><head><meta charset=utf-8>{refresh}\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// An HTML answer with the headers every page carries: pages may show what
/// only a signed-in reader may see, so no cache keeps them.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_stays_text() {
        assert_eq!(
            esc("<b a='1' b=\"2\">&</b>"),
            "&lt;b a=&#39;1&#39; b=&quot;2&quot;&gt;&amp;&lt;/b&gt;"
        );
        assert!(document("<x>", "", false).contains("<title>&lt;x&gt;</title>"));
    }
}
