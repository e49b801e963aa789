//! The portal's pages, rendered on the server: plain HTML forms that work
//! with the keyboard and without scripts, one stylesheet, labelled controls.

use std::fmt::Write;

/// Text safe inside HTML elements and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; --card: #ffffff; --bg: #f3f4f6; --fg: #111827; --bad: #b91c1c; }
@media (prefers-color-scheme: dark) { :root { --card: #1f2937; --bg: #111827; --fg: #f9fafb; --muted: #9ca3af; --bad: #f87171; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; justify-content: space-between; padding: .75rem 1.25rem; background: var(--card); box-shadow: 0 1px 2px #0002; }
header .brand { font-weight: 700; font-size: 1.15rem; }
main { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
.card { background: var(--card); border-radius: .75rem; padding: 1.5rem; box-shadow: 0 1px 3px #0002; }
.narrow { max-width: 24rem; margin: 3rem auto; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .75rem; }
label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
input[type=email], input[type=password], input[inputmode] { width: 100%; padding: .6rem .7rem; font: inherit; border: 1px solid var(--muted); border-radius: .4rem; background: transparent; color: inherit; }
button { font: inherit; cursor: pointer; border-radius: .4rem; padding: .55rem 1rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; }
button.quiet { background: transparent; color: var(--accent); }
button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.wide { width: 100%; margin-top: 1.25rem; }
.error { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
.apps { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .75rem; list-style: none; padding: 0; margin: 0; }
.apps button { width: 100%; display: flex; flex-direction: column; align-items: center; gap: .5rem; padding: 1rem .5rem; background: var(--card); color: var(--fg); border: 1px solid #8884; }
.apps button:hover { border-color: var(--accent); }
.apps img { width: 48px; height: 48px; }
.stack-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
.badge { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #16a34a; color: #fff; }
form.inline { display: inline; }
a.button { display: block; text-align: center; text-decoration: none; border-radius: .4rem; padding: .55rem 1rem; border: 1px solid var(--accent); color: var(--accent); }
ul.providers { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
.or { text-align: center; margin: 1rem 0 .5rem; }
"#;

/// A whole page: `signed_in` shows who and a sign-out button.
pub(crate) fn page(title: &str, signed_in: Option<(&str, &str)>, body: &str) -> String {
    let mut account = String::new();
    if let Some((user, csrf)) = signed_in {
        let _ = write!(
            account,
            r#"<span><span class="muted">{user}</span>
<form class="inline" method="post" action="/portal/sign-out"><input type="hidden" name="csrf" value="{csrf}">
<button class="quiet" type="submit">Sign out</button></form></span>"#,
            user = escape(user),
            csrf = escape(csrf),
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Porthole</title><style>{STYLE}</style></head>
<body><header><span class="brand">Porthole</span>{account}</header>
<main>{body}</main></body></html>"#,
        title = escape(title),
    )
}

/// The sign-in form, with an error if the last try failed, and a button per
/// identity provider (where it starts, label).
pub(crate) fn sign_in(
    csrf: &str,
    error: Option<&str>,
    email: &str,
    providers: &[(String, &str)],
) -> String {
    let error = alert(error);
    let mut federated = String::new();
    if !providers.is_empty() {
        federated.push_str(r#"<p class="muted or">or</p><ul class="providers">"#);
        for (start, label) in providers {
            let _ = write!(
                federated,
                r#"<li><a class="button" href="{start}">Sign in with {label}</a></li>"#,
                start = escape(start),
                label = escape(label),
            );
        }
        federated.push_str("</ul>");
    }
    page(
        "Sign in",
        None,
        &format!(
            r#"<div class="card narrow"><h1>Sign in</h1>{error}
<form method="post" action="/portal/sign-in">
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{email}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button class="wide" type="submit">Sign in</button></form>
<p><a href="/portal/forgot">Forgot your password?</a></p>{federated}</div>"#,
            csrf = escape(csrf),
            email = escape(email),
        ),
    )
}

fn alert(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))
    })
}

/// Forgot password: the email to send a code to.
pub(crate) fn forgot(csrf: &str) -> String {
    page(
        "Forgot password",
        None,
        &format!(
            r#"<div class="card narrow"><h1>Forgot your password?</h1>
<p class="muted">We send a code to your email address; it works for 24 hours.</p>
<form method="post" action="/portal/forgot">
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required autofocus>
<button class="wide" type="submit">Send a code</button></form></div>"#,
            csrf = escape(csrf),
        ),
    )
}

/// Entering the code and a new password.
pub(crate) fn reset(csrf: &str, email: &str, info: Option<&str>, error: Option<&str>) -> String {
    let info = info.map_or(String::new(), |i| {
        format!(r#"<p role="status">{}</p>"#, escape(i))
    });
    page(
        "Reset password",
        None,
        &format!(
            r#"<div class="card narrow"><h1>Choose a new password</h1>{info}{error}
<form method="post" action="/portal/reset">
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="{email}">
<label for="code">Code from the email</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<label for="password">New password</label><input id="password" name="password" type="password" autocomplete="new-password" required>
<label for="confirm">Repeat it</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button class="wide" type="submit">Save the password</button></form></div>"#,
            error = alert(error),
            csrf = escape(csrf),
            email = escape(email),
        ),
    )
}

/// Choosing a password after signing in with the welcome message's.
pub(crate) fn new_password(user: &str, csrf: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))
    });
    page(
        "Choose a password",
        Some((user, csrf)),
        &format!(
            r#"<div class="card narrow"><h1>Choose a password</h1>
<p class="muted">At least 8 characters, with upper and lower case letters, a digit and a symbol.</p>{error}
<form method="post" action="/portal/password">
<input type="hidden" name="csrf" value="{csrf}">
<label for="password">New password</label><input id="password" name="password" type="password" autocomplete="new-password" required autofocus>
<label for="confirm">Repeat it</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button class="wide" type="submit">Save and continue</button></form></div>"#,
            csrf = escape(csrf),
        ),
    )
}

/// A message page (disabled account, no capacity, ...), optionally retrying.
pub(crate) fn notice(title: &str, message: &str, retry: Option<(&str, u32)>) -> String {
    let retry = retry.map_or(String::new(), |(form, secs)| {
        format!(
            r#"<p>Trying again in <span id="countdown">{secs}</span> s.</p>{form}
<script>let left = {secs}; const c = document.getElementById('countdown');
setInterval(() => {{ left -= 1; c.textContent = Math.max(left, 0); if (left === 0) document.getElementById('retry').submit(); }}, 1000);</script>"#
        )
    });
    page(
        title,
        None,
        &format!(
            r#"<div class="card narrow"><h1>{title}</h1><p role="alert">{message}</p>{retry}
<p><a href="/">Back to the portal</a></p></div>"#,
            title = escape(title),
            message = escape(message),
        ),
    )
}

pub(crate) struct CatalogApp {
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) icon_url: Option<String>,
}

pub(crate) struct CatalogStack {
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) running_session: bool,
    /// None while the stack has no fleet, or its fleet no image.
    pub(crate) apps: Vec<CatalogApp>,
}

/// A form that posts `fields` (and the CSRF token) to `action`.
pub(crate) fn post_form(action: &str, csrf: &str, fields: &[(&str, &str)], button: &str) -> String {
    let mut hidden = format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        escape(csrf)
    );
    for (name, value) in fields {
        let _ = write!(
            hidden,
            r#"<input type="hidden" name="{}" value="{}">"#,
            escape(name),
            escape(value)
        );
    }
    format!(r#"<form method="post" action="{action}">{hidden}{button}</form>"#)
}

/// The signed-in home: the user's stacks and their apps.
pub(crate) fn catalog(user: &str, csrf: &str, stacks: &[CatalogStack]) -> String {
    let mut body = String::from("<h1>Your applications</h1>");
    if stacks.is_empty() {
        body.push_str(
            r#"<div class="card"><p>No stack is assigned to you yet. Ask your administrator.</p></div>"#,
        );
    }
    for stack in stacks {
        let heading_id = format!("stack-{}", escape(&stack.name));
        let mut head = format!(
            r#"<div class="stack-head"><h2 id="{heading_id}">{}</h2>"#,
            escape(&stack.display_name)
        );
        if stack.running_session {
            let end = post_form(
                "/portal/end",
                csrf,
                &[("stack", &stack.name)],
                r#"<button class="quiet" type="submit">End session</button>"#,
            );
            let _ = write!(
                head,
                r#"<span><span class="badge">Session running</span> {end}</span>"#
            );
        }
        head.push_str("</div>");
        let mut apps = String::new();
        for app in &stack.apps {
            let icon = app.icon_url.as_deref().map_or(String::new(), |url| {
                format!(r#"<img src="{}" alt="">"#, escape(url))
            });
            let button = format!(
                r#"<button type="submit">{icon}<span>{}</span></button>"#,
                escape(&app.display_name)
            );
            let form = post_form(
                "/portal/launch",
                csrf,
                &[("stack", &stack.name), ("app", &app.name)],
                &button,
            );
            let _ = write!(apps, "<li>{form}</li>");
        }
        if stack.apps.is_empty() {
            apps.push_str(
                r#"<li class="muted">No application is available in this stack right now.</li>"#,
            );
        }
        let _ = write!(
            body,
            r#"<section class="card" aria-labelledby="{heading_id}">{head}<ul class="apps">{apps}</ul></section>"#
        );
    }
    page("Your applications", Some((user, csrf)), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped_everywhere() {
        let html = catalog(
            "<ana>",
            "t\"ok",
            &[CatalogStack {
                name: "s\"1".into(),
                display_name: "<b>Stack</b>".into(),
                running_session: true,
                apps: vec![CatalogApp {
                    name: "x'term".into(),
                    display_name: "X & Term".into(),
                    icon_url: None,
                }],
            }],
        );
        assert!(!html.contains("<ana>") && !html.contains("<b>Stack"));
        assert!(html.contains("&lt;ana&gt;") && html.contains("X &amp; Term"));
        assert!(html.contains(r#"value="t&quot;ok""#) && html.contains(r#"value="x&#39;term""#));
    }
}
