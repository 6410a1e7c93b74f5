//! The HTML pages people see: the login form, the signed-out page and the
//! error pages.
//!
//! Pure functions that return a whole document as a `String`; the handlers
//! decide status codes and headers. Every page is self-contained (inline
//! `<style>`, no scripts, no external assets) so it renders the same while
//! the backend is down, under a strict CSP, and without JavaScript. Every
//! interpolated value goes through [`Escaped`], so nothing a client or a
//! config file supplies can become markup.

use std::fmt;

use http::StatusCode;

/// Where the login form posts; the proxy's reserved login endpoint.
const LOGIN_PATH: &str = "/.gatehouse/login";

/// Longest password the form lets a browser send. Far above any real
/// password so that passphrases and password managers are never cut off;
/// the handler bounds the request body on its own.
const PASSWORD_MAX_CHARS: usize = 4096;

/// What the login page shows besides the empty form.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginView<'a> {
    /// Why the last attempt failed, shown above the form; `None` on first visit.
    pub error: Option<&'a str>,
    /// A neutral message shown above the form (e.g. after signing out);
    /// announced politely, unlike `error`.
    pub notice: Option<&'a str>,
    /// Pre-filled after a failed attempt so the user only retypes the password.
    pub username: &'a str,
    /// The validated return path, posted back as `rd`.
    pub return_to: &'a str,
    /// The form token, posted back as `csrf`.
    pub csrf_token: &'a str,
}

/// The sign-in form, with the error from the last attempt if there was one.
pub fn login_page(app_name: &str, view: &LoginView) -> String {
    // With an error or a notice, screen readers should read it first;
    // autofocus would jump past it, so it is only set on a plain form.
    let (alert, describedby, autofocus) = match view.error {
        Some(error) => (
            format!(
                "<div class=\"alert\" role=\"alert\" id=\"login-error\">{}</div>\n",
                Escaped(error)
            ),
            " aria-describedby=\"login-error\" aria-invalid=\"true\"",
            "",
        ),
        None if view.notice.is_some() => (String::new(), "", ""),
        None => (String::new(), "", " autofocus"),
    };
    let notice = view.notice.map_or_else(String::new, |notice| {
        format!(
            "<div class=\"notice\" role=\"status\">{}</div>\n",
            Escaped(notice)
        )
    });
    let body = format!(
        "<h1>Sign in</h1>\n\
         {notice}{alert}\
         <form method=\"post\" action=\"{LOGIN_PATH}\">\n\
         <input type=\"hidden\" name=\"rd\" value=\"{rd}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <div class=\"field\">\n\
         <label for=\"username\">Username</label>\n\
         <input id=\"username\" name=\"username\" type=\"text\" value=\"{username}\" \
         autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" \
         required{autofocus}{describedby}>\n\
         </div>\n\
         <div class=\"field\">\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" maxlength=\"{PASSWORD_MAX_CHARS}\" \
         required{describedby}>\n\
         </div>\n\
         <button type=\"submit\">Sign in</button>\n\
         </form>\n",
        rd = Escaped(view.return_to),
        csrf = Escaped(view.csrf_token),
        username = Escaped(view.username),
    );
    document(app_name, "Sign in", &body)
}

/// Confirms a logout, with a way back in.
pub fn logged_out_page(app_name: &str) -> String {
    let body = format!(
        "<h1>You have signed out</h1>\n\
         <p class=\"lead\">Your session for {app} has ended.</p>\n\
         <p><a class=\"button\" href=\"{LOGIN_PATH}\">Sign in again</a></p>\n",
        app = Escaped(app_name),
    );
    document(app_name, "Signed out", &body)
}

/// An error page: the status, a short sentence for people, and a way out.
///
/// `message` is shown as given; pass [`error_message`] or another sentence
/// meant for users, never internal error text.
pub fn error_page(app_name: &str, status: StatusCode, message: &str) -> String {
    let heading = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<h1>{heading}</h1>\n\
         <p class=\"lead\">{message}</p>\n\
         <p><a class=\"button\" href=\"/\">Go to the start page</a></p>\n",
        heading = Escaped(&heading),
        message = Escaped(message),
    );
    document(app_name, &heading, &body)
}

/// A sign-in at the identity provider that did not work out: what went
/// wrong, in words meant for people, and a way to start again.
/// `retry_href` is a same-origin path (the login path with a validated
/// `rd`), escaped here like every other value.
pub fn sign_in_failed_page(
    app_name: &str,
    status: StatusCode,
    message: &str,
    retry_href: &str,
) -> String {
    let body = format!(
        "<h1>Sign-in failed</h1>\n\
         <div class=\"alert\" role=\"alert\">{message}</div>\n\
         <p><a class=\"button\" href=\"{retry}\">Try again</a></p>\n\
         <p class=\"lead\">Error {code}</p>\n",
        message = Escaped(message),
        retry = Escaped(retry_href),
        code = status.as_u16(),
    );
    document(app_name, "Sign-in failed", &body)
}

/// The sentence shown to people for a status the proxy answers itself.
pub fn error_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "The request could not be understood.",
        StatusCode::UNAUTHORIZED => "Please sign in.",
        StatusCode::FORBIDDEN => "You do not have access to this page.",
        StatusCode::NOT_FOUND => "There is nothing here.",
        StatusCode::METHOD_NOT_ALLOWED => "This method is not allowed.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request is too large.",
        StatusCode::TOO_MANY_REQUESTS => {
            "Too many failed sign-in attempts. Please wait and try again."
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request headers are too large.",
        StatusCode::BAD_GATEWAY => "The application behind this gateway could not be reached.",
        StatusCode::SERVICE_UNAVAILABLE => {
            "Sign-in is temporarily unavailable. Please try again in a moment."
        }
        StatusCode::GATEWAY_TIMEOUT => "The application took too long to answer.",
        s if s.is_server_error() => "Something went wrong. Please try again in a moment.",
        _ => "The request could not be completed.",
    }
}

/// The shared frame: head, style and the `<main>` card holding `body`.
/// `body` is trusted markup built from escaped parts.
fn document(app_name: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n\
         <html lang=\"en\">\n\
         <head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{title} · {app}</title>\n\
         <style>{STYLE}</style>\n\
         </head>\n\
         <body>\n\
         <main>\n\
         <p class=\"app\">{app}</p>\n\
         {body}\
         </main>\n\
         </body>\n\
         </html>\n",
        title = Escaped(title),
        app = Escaped(app_name),
    )
}

/// One stylesheet for every page. Colours meet WCAG AA (4.5:1 for text,
/// 3:1 for borders and focus rings) in both light and dark schemes.
const STYLE: &str = "
:root{--bg:#f3f4f6;--card:#fff;--text:#1f2328;--muted:#57606a;--border:#d0d7de;
--input:#6e7781;--accent:#0b5cad;--accent-hover:#084a8c;--on-accent:#fff;
--focus:#0b5cad;--err-bg:#fff1f0;--err-border:#cf222e;--err-text:#82071e;--note-bg:#eef5fc;
color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--text:#e6edf3;
--muted:#9da7b3;--border:#30363d;--input:#7d8590;--accent:#58a6ff;--accent-hover:#79b8ff;
--on-accent:#0d1117;--focus:#79b8ff;--err-bg:#2d1214;--err-border:#f85149;--err-text:#ffb3ad;
--note-bg:#0f2237}}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,
\"Noto Sans\",sans-serif;font-size:100%;line-height:1.5;color:var(--text);background:var(--bg)}
body{margin:0;min-height:100vh;display:flex;align-items:flex-start;justify-content:center;
padding:12vh 1rem 2rem}
main{width:100%;max-width:26rem;background:var(--card);border:1px solid var(--border);
border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}
.app{margin:0 0 1.25rem;font-size:.875rem;font-weight:600;letter-spacing:.04em;
text-transform:uppercase;color:var(--muted)}
h1{margin:0 0 .5rem;font-size:1.5rem;line-height:1.25}
h1+.alert,h1+.notice,h1+form{margin-top:1.25rem}
.lead{margin:0 0 1.5rem;color:var(--muted)}
.alert{margin:0 0 1.25rem;padding:.75rem 1rem;border:1px solid var(--err-border);
border-left-width:4px;border-radius:6px;background:var(--err-bg);color:var(--err-text)}
.notice{margin:0 0 1.25rem;padding:.75rem 1rem;border:1px solid var(--border);
border-left:4px solid var(--accent);border-radius:6px;background:var(--note-bg)}
.field{margin:0 0 1rem}
label{display:block;margin:0 0 .375rem;font-weight:600;font-size:.9375rem}
input{display:block;width:100%;padding:.625rem .75rem;font:inherit;color:var(--text);
background:var(--card);border:1px solid var(--input);border-radius:6px}
input[aria-invalid=true]{border-color:var(--err-border)}
button,.button{display:inline-block;padding:.625rem 1.25rem;font:inherit;font-weight:600;
text-decoration:none;color:var(--on-accent);background:var(--accent);border:0;
border-radius:6px;cursor:pointer}
button{width:100%;margin-top:.5rem}
button:hover,.button:hover{background:var(--accent-hover)}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
input:focus-visible{outline-offset:0}
p:last-child{margin-bottom:0}
";

/// Text made safe for HTML element content and quoted attribute values.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#x27;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert('x')</script>\"&";

    fn all_pages() -> Vec<String> {
        let mut pages = vec![
            login_page("Acme Wiki", &LoginView::default()),
            login_page(
                "Acme Wiki",
                &LoginView {
                    error: Some("Wrong username or password."),
                    username: "alice",
                    return_to: "/docs?a=1&b=2",
                    csrf_token: "tok",
                    ..LoginView::default()
                },
            ),
            login_page(
                "Acme Wiki",
                &LoginView {
                    notice: Some("You have signed out."),
                    ..LoginView::default()
                },
            ),
            logged_out_page("Acme Wiki"),
            sign_in_failed_page(
                "Acme Wiki",
                StatusCode::BAD_REQUEST,
                "This sign-in could not be completed.",
                "/.gatehouse/login?rd=%2Fwiki",
            ),
        ];
        for code in [400, 401, 403, 404, 405, 413, 429, 431, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            pages.push(error_page("Acme Wiki", status, error_message(status)));
        }
        pages
    }

    fn hostile_login() -> String {
        login_page(
            HOSTILE,
            &LoginView {
                error: Some(HOSTILE),
                notice: Some(HOSTILE),
                username: HOSTILE,
                return_to: "/x\"><script>alert(1)</script>",
                csrf_token: "a\"b'c<d>",
            },
        )
    }

    #[test]
    fn escapes_the_five_html_specials() {
        assert_eq!(
            Escaped("a<b>c&d\"e'f").to_string(),
            "a&lt;b&gt;c&amp;d&quot;e&#x27;f"
        );
        assert_eq!(Escaped("").to_string(), "");
        assert_eq!(Escaped("plain · ünïcode").to_string(), "plain · ünïcode");
        assert_eq!(Escaped("&&").to_string(), "&amp;&amp;");
    }

    #[test]
    fn login_page_escapes_every_field() {
        let page = hostile_login();
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("'x'"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;"));
        assert!(page
            .contains("name=\"rd\" value=\"/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
        assert!(page.contains("name=\"csrf\" value=\"a&quot;b&#x27;c&lt;d&gt;\""));
        assert!(page.contains("<title>Sign in · &lt;script&gt;"));
    }

    #[test]
    fn error_and_logout_pages_escape_app_name_and_message() {
        let status = StatusCode::BAD_GATEWAY;
        for page in [
            error_page(HOSTILE, status, HOSTILE),
            logged_out_page(HOSTILE),
            sign_in_failed_page(HOSTILE, status, HOSTILE, HOSTILE),
        ] {
            assert!(!page.contains("<script"), "{page}");
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
    }

    #[test]
    fn login_page_has_labelled_fields_in_focus_order() {
        let page = login_page("Acme Wiki", &LoginView::default());
        assert!(page.contains("<title>Sign in · Acme Wiki</title>"));
        assert!(page.contains("<form method=\"post\" action=\"/.gatehouse/login\">"));
        assert!(page.contains("<label for=\"username\">"));
        assert!(page.contains("<label for=\"password\">"));
        assert!(page.contains("autocomplete=\"username\""));
        assert!(page.contains("type=\"password\" autocomplete=\"current-password\""));
        const { assert!(PASSWORD_MAX_CHARS >= 1024) };
        assert!(page.contains("autofocus"));
        assert!(!page.contains("role=\"alert\""));
        assert!(!page.contains("aria-describedby"));
        assert!(!page.contains("tabindex"));
        let user = page.find("id=\"username\"").unwrap();
        let pass = page.find("id=\"password\"").unwrap();
        let button = page
            .find("<button type=\"submit\">Sign in</button>")
            .unwrap();
        assert!(user < pass && pass < button);
    }

    #[test]
    fn login_error_is_an_alert_linked_to_the_fields() {
        let page = login_page(
            "Acme Wiki",
            &LoginView {
                error: Some("Wrong username or password."),
                username: "alice",
                ..LoginView::default()
            },
        );
        let alert = page
            .find("role=\"alert\" id=\"login-error\">Wrong username or password.</div>")
            .unwrap();
        assert!(alert < page.find("<form").unwrap());
        assert_eq!(page.matches("aria-describedby=\"login-error\"").count(), 2);
        assert!(page.contains("value=\"alice\""));
        assert!(!page.contains("autofocus"));
    }

    #[test]
    fn login_notice_is_a_status_message_not_an_error() {
        let page = login_page(
            "Acme Wiki",
            &LoginView {
                notice: Some("You have signed out."),
                ..LoginView::default()
            },
        );
        let notice = page
            .find("<div class=\"notice\" role=\"status\">You have signed out.</div>")
            .unwrap();
        assert!(notice < page.find("<form").unwrap());
        assert!(!page.contains("role=\"alert\""));
        assert!(!page.contains("aria-invalid=\"true\""));
        assert!(!page.contains("autofocus"));
    }

    #[test]
    fn error_page_names_status_and_links_home() {
        let page = error_page(
            "Acme Wiki",
            StatusCode::GATEWAY_TIMEOUT,
            error_message(StatusCode::GATEWAY_TIMEOUT),
        );
        assert!(page.contains("<title>504 Gateway Timeout · Acme Wiki</title>"));
        assert!(page.contains("<h1>504 Gateway Timeout</h1>"));
        assert!(page.contains("The application took too long to answer."));
        assert!(page.contains("<a class=\"button\" href=\"/\">Go to the start page</a>"));
    }

    #[test]
    fn sign_in_failed_page_explains_and_offers_a_retry() {
        let page = sign_in_failed_page(
            "Acme Wiki",
            StatusCode::UNAUTHORIZED,
            "The answer could not be verified.",
            "/.gatehouse/login?rd=%2Fdocs&x=1",
        );
        assert!(page.contains("<title>Sign-in failed · Acme Wiki</title>"));
        assert!(page.contains("role=\"alert\">The answer could not be verified.</div>"));
        assert!(page.contains(
            "<a class=\"button\" href=\"/.gatehouse/login?rd=%2Fdocs&amp;x=1\">Try again</a>"
        ));
        assert!(page.contains("Error 401"));
    }

    #[test]
    fn logged_out_page_links_to_sign_in() {
        let page = logged_out_page("Acme Wiki");
        assert!(page.contains("<title>Signed out · Acme Wiki</title>"));
        assert!(page.contains("<h1>You have signed out</h1>"));
        assert!(page.contains("href=\"/.gatehouse/login\">Sign in again</a>"));
    }

    #[test]
    fn every_page_is_self_contained_and_accessible() {
        for page in all_pages() {
            assert!(page.starts_with("<!doctype html>\n<html lang=\"en\">"));
            assert!(page.contains("<meta name=\"viewport\""));
            assert!(page.contains("<main>") && page.contains("</main>"));
            assert!(page.contains(":focus-visible{outline:3px"));
            for banned in ["http://", "https://", "<script", "<link", "url(", "@import"] {
                assert!(!page.contains(banned), "{banned} in {page}");
            }
        }
    }

    #[test]
    fn every_error_status_has_its_own_message() {
        let expected = [
            (400, "The request could not be understood."),
            (401, "Please sign in."),
            (403, "You do not have access to this page."),
            (404, "There is nothing here."),
            (405, "This method is not allowed."),
            (413, "The request is too large."),
            (
                429,
                "Too many failed sign-in attempts. Please wait and try again.",
            ),
            (431, "The request headers are too large."),
            (
                502,
                "The application behind this gateway could not be reached.",
            ),
            (
                503,
                "Sign-in is temporarily unavailable. Please try again in a moment.",
            ),
            (504, "The application took too long to answer."),
        ];
        for (code, message) in expected {
            assert_eq!(error_message(StatusCode::from_u16(code).unwrap()), message);
        }
        assert!(error_message(StatusCode::INTERNAL_SERVER_ERROR).starts_with("Something"));
        assert!(error_message(StatusCode::IM_A_TEAPOT).starts_with("The request"));
    }
}
