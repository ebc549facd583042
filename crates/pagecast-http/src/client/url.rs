//! The `http://host[:port]/path` URLs `pagecast get` takes and follows in redirects.

use super::GetError;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, GetError> {
        let bad = || GetError::BadUrl(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') || authority.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        if host.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad());
        }
        Ok(Url { host, port, path })
    }

    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    pub(crate) fn display(&self) -> String {
        format!("http://{}{}", self.authority(), self.path)
    }

    /// The file name a download of this URL is saved under by default.
    pub fn file_name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let decoded = String::from_utf8_lossy(&crate::target::decode_lossy(last)).into_owned();
        if decoded.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\0', '\\'])
        {
            "index.html".into()
        } else {
            decoded
        }
    }

    /// Resolves a Location header against this URL.
    pub(crate) fn join(&self, location: &str) -> Result<Url, GetError> {
        if location.starts_with("http://") {
            return Url::parse(location);
        }
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(Url {
                path: location.to_string(),
                ..self.clone()
            });
        }
        Err(GetError::Protocol {
            url: self.display(),
            what: format!("unsupported redirect to {location:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://example.com:8080/a/b%20c.txt?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 8080, "/a/b%20c.txt?x=1")
        );
        assert_eq!(u.file_name(), "b c.txt");
        assert_eq!(Url::parse("http://h").unwrap().path, "/");
        assert_eq!(Url::parse("http://h?q").unwrap().path, "/?q");
        assert_eq!(Url::parse("http://[::1]:9/x").unwrap().host, "::1");
        assert_eq!(
            Url::parse("http://[::1]:9/x").unwrap().authority(),
            "[::1]:9"
        );
        for no_name in ["http://h/dir/", "http://h/a/%2e%2e", "http://h/a/x%2fy"] {
            assert_eq!(Url::parse(no_name).unwrap().file_name(), "index.html");
        }
        for bad in [
            "https://h/",
            "ftp://h",
            "http://",
            "http://h:99999/",
            "http://u@h/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        let base = Url::parse("http://h:1/a").unwrap();
        assert_eq!(base.join("/b/").unwrap().path, "/b/");
        assert_eq!(base.join("http://o/c").unwrap().host, "o");
        assert!(base.join("//o/c").is_err());
    }
}
