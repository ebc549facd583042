//! The directory listing page: entries sorted (directories first, then by name), with
//! sizes and modification dates; names HTML-escaped in the text and percent-encoded in
//! the links, so no file name can inject markup or a foreign link.

use std::fmt::Write;

use crate::date;
use crate::fs::Entry;

/// Renders the listing of the directory at `url_path` (decoded, ending in `/`).
pub fn render(url_path: &str, mut entries: Vec<Entry>) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = escape(url_path.as_bytes());
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title>\
         <style>td{{padding:0 1em}} td.s{{text-align:right}}</style></head>\n\
         <body><h1>Index of {title}</h1>\n<table>\n\
         <tr><th>Name</th><th>Size</th><th>Last modified</th></tr>\n"
    );
    if url_path != "/" {
        page.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in &entries {
        let slash = if e.is_dir { "/" } else { "" };
        let size = if e.is_dir {
            "-".to_string()
        } else {
            e.size.to_string()
        };
        let _ = writeln!(
            page,
            "<tr><td><a href=\"{}{slash}\">{}{slash}</a></td><td class=\"s\">{size}</td><td>{}</td></tr>",
            percent_encode(&e.name),
            escape(&e.name),
            date::listing(e.mtime),
        );
    }
    page.push_str("</table>\n</body></html>\n");
    page
}

/// HTML-escapes a name for text and attribute positions; invalid UTF-8 is replaced.
pub fn escape(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for c in String::from_utf8_lossy(name).chars() {
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

/// Percent-encodes a path segment: every byte but RFC 3986 unreserved ones.
pub fn percent_encode(segment: &[u8]) -> String {
    let mut out = String::with_capacity(segment.len());
    for &b in segment {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &[u8], is_dir: bool, size: u64) -> Entry {
        Entry {
            name: name.to_vec(),
            is_dir,
            size,
            mtime: 784_111_777,
        }
    }

    #[test]
    fn sorted_escaped_and_encoded() {
        let page = render(
            "/a&b/",
            vec![
                entry(b"zeta.txt", false, 5),
                entry(b"<script>x", false, 7),
                entry(b"sub dir", true, 4096),
                entry(b"\xffraw", false, 1),
            ],
        );
        assert!(page.contains("<title>Index of /a&amp;b/</title>"));
        assert!(!page.contains("<script>"));
        assert!(page.contains(
            "<a href=\"%3Cscript%3Ex\">&lt;script&gt;x</a></td><td class=\"s\">7</td><td>1994-11-06 08:49</td>"
        ));
        assert!(page.contains("<a href=\"%FFraw\">\u{fffd}raw</a>"));
        let order: Vec<usize> = ["../", "sub%20dir/", "%3Cscript", "zeta.txt", "%FFraw"]
            .iter()
            .map(|n| page.find(&format!("href=\"{n}")).unwrap())
            .collect();
        assert!(order.is_sorted(), "{order:?}");
        assert!(!render("/", vec![]).contains("../"));
    }
}
