//! A minimal browser for the consent page: load it, find its form, press a button, report where
//! the answer redirects.

use std::collections::HashMap;
use url::Url;

/// The attributes of every `<tag ...>` in `html`, values unescaped.
fn tags(html: &str, tag: &str) -> Vec<HashMap<String, String>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find('>') else { break };
        if after.starts_with(|c: char| c.is_whitespace() || c == '>') {
            out.push(attributes(&after[..end]));
        }
        rest = &after[end..];
    }
    out
}

/// `name="value"` pairs (double-quoted, as the double writes them).
fn attributes(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit(|c: char| c.is_whitespace()).next().unwrap_or("").to_string();
        let value_start = &rest[eq + 2..];
        let Some(close) = value_start.find('"') else { break };
        out.insert(name, unescape(&value_start[..close]));
        rest = &value_start[close + 1..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The page's text, for error messages.
fn text(html: &str) -> String {
    let body = html.split_once("<body>").map(|(_, b)| b).unwrap_or(html);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn location(response: &reqwest::Response) -> Option<String> {
    response.headers().get(reqwest::header::LOCATION)?.to_str().ok().map(str::to_string)
}

pub async fn consent(authorize_url: &str, approve: bool) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let page_url = Url::parse(authorize_url).map_err(|e| format!("{authorize_url}: {e}"))?;
    let response = client.get(page_url.clone()).send().await.map_err(|e| format!("GET {authorize_url}: {e}"))?;
    if response.status().is_redirection() {
        return location(&response).ok_or_else(|| "a redirect without a Location".to_string());
    }
    let status = response.status();
    let html = response.text().await.map_err(|e| format!("reading the consent page: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {}", text(&html)));
    }
    let form = tags(&html, "form").into_iter().find(|f| f.get("action").is_some_and(|a| a.ends_with("/login/oauth/authorize")));
    let Some(form) = form else {
        return Err(format!("no consent form on the page: {}", text(&html)));
    };
    let wanted = if approve { "1" } else { "0" };
    let button = tags(&html, "button")
        .into_iter()
        .find(|b| b.get("name").map(String::as_str) == Some("authorize") && b.get("value").map(String::as_str) == Some(wanted));
    if button.is_none() {
        return Err(format!("no {} button on the consent page", if approve { "Authorize" } else { "Cancel" }));
    }
    let mut fields: Vec<(String, String)> = tags(&html, "input")
        .into_iter()
        .filter(|i| i.get("type").map(String::as_str) == Some("hidden"))
        .filter_map(|mut i| Some((i.remove("name")?, i.remove("value").unwrap_or_default())))
        .collect();
    fields.push(("authorize".into(), wanted.into()));
    let action = page_url.join(form.get("action").map(String::as_str).unwrap_or("")).map_err(|e| format!("the form's action: {e}"))?;
    let response = client.post(action).form(&fields).send().await.map_err(|e| format!("submitting the consent form: {e}"))?;
    if response.status().is_redirection() {
        return location(&response).ok_or_else(|| "a redirect without a Location".to_string());
    }
    let status = response.status();
    let html = response.text().await.unwrap_or_default();
    Err(format!("the consent form answered {status}: {}", text(&html)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_and_text() {
        let html = "<body><form method=\"post\" action=\"/x\"><input type=\"hidden\" name=\"state\" value=\"a&amp;b&quot;\"><button name=\"authorize\" value=\"1\">Authorize</button></form></body>";
        assert_eq!(tags(html, "form")[0]["action"], "/x");
        assert_eq!(tags(html, "input")[0]["value"], "a&b\"");
        assert_eq!(tags(html, "button")[0]["value"], "1");
        assert_eq!(text(html), "Authorize");
    }
}
