//! The If-Range validator of a partial download, kept with the file in an extended
//! attribute so that `pagecast get -c` can tell whether the file changed on the server.

use std::fs::File;
use std::path::Path;

use super::head::ResponseHead;

/// Extended attribute holding the If-Range validator of a partial download.
pub const VALIDATOR_XATTR: &str = "user.pagecast.validator";

/// The If-Range value to resume with: a strong ETag, or the Last-Modified date.
fn validator_of(head: &ResponseHead) -> Option<String> {
    match head.header("etag") {
        Some(tag) if tag.starts_with('"') => Some(tag.to_string()),
        _ => head.header("last-modified").map(str::to_string),
    }
}

/// Records the validator of the response being saved in `file`, or removes a stale one.
pub(crate) fn save(file: &File, head: &ResponseHead) {
    // Where extended attributes are not supported, -c later resumes without If-Range
    // (and says so), as curl and wget always do.
    match validator_of(head) {
        Some(v) => {
            let _ = rustix::fs::fsetxattr(
                file,
                VALIDATOR_XATTR,
                v.as_bytes(),
                rustix::fs::XattrFlags::empty(),
            );
        }
        None => {
            let _ = rustix::fs::fremovexattr(file, VALIDATOR_XATTR);
        }
    }
}

/// The validator saved with the partial file at `path`, if any.
pub(crate) fn read(path: &Path) -> Option<String> {
    let mut buf = [0u8; 512];
    let n = rustix::fs::getxattr(path, VALIDATOR_XATTR, &mut buf).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}
