//! The Kafka wire codec, bounded by construction.
//!
//! Every message is described once with [`wire_struct!`]: its fields, their types, the
//! versions each field exists in, and which are tagged. Decode, encode and size follow
//! from that description. The description language is the one of Kafka's message specs
//! (`clients/src/main/resources/common/message/*.json`), written as Rust.
//!
//! A [`Reader`] is the only way bytes from the network are read, and it never allocates
//! on the word of the input: every string, byte array and element count is checked
//! against the bytes left in the frame first, and every decoded element is charged to a
//! budget proportional to the frame's size, so a frame cannot make the decoder hold more
//! than a small multiple of its own length.

mod primitives;

use std::fmt;

pub use primitives::{Bytes, Uuid};

/// Why bytes could not be decoded as the message they claim to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended inside a field.
    #[error("the frame ends at byte {at}, inside a field that needs {need} more bytes")]
    Truncated {
        /// Position in the frame where the field starts.
        at: usize,
        /// Bytes the field needs.
        need: usize,
    },
    /// A length or element count is negative (and not the null marker) or larger than
    /// the bytes left in the frame.
    #[error("a length of {len} at byte {at} does not fit the {left} bytes left in the frame")]
    BadLength {
        /// Position of the length.
        at: usize,
        /// The length read.
        len: i64,
        /// Bytes left after it.
        left: usize,
    },
    /// A variable-length integer runs past its largest size.
    #[error("a variable-length integer at byte {at} is longer than {max} bytes")]
    BadVarint {
        /// Position of the integer.
        at: usize,
        /// Its largest encoded size.
        max: usize,
    },
    /// A string is not UTF-8.
    #[error("the string at byte {at} is not UTF-8")]
    BadString {
        /// Position of the string's bytes.
        at: usize,
    },
    /// A null where the version does not allow one.
    #[error("a null at byte {at} where this version needs a value")]
    UnexpectedNull {
        /// Position of the null marker.
        at: usize,
    },
    /// Decoding would hold more memory than the frame's size allows.
    #[error("the frame's elements would need more than {budget} bytes of memory")]
    OverBudget {
        /// The budget, a multiple of the frame's size.
        budget: usize,
    },
    /// Bytes are left over after the message.
    #[error("{left} bytes are left after the message")]
    TrailingBytes {
        /// Bytes left.
        left: usize,
    },
}

/// Result of decoding.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// The version a message is read or written at, and whether that version is flexible
/// (compact strings and arrays, tagged fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The API version.
    pub version: i16,
    /// Whether this version of the message uses the flexible encoding.
    pub flexible: bool,
}

/// Memory a frame may make the decoder hold, per byte of frame, beyond a fixed
/// allowance: element structs are larger than their encoding.
const BUDGET_PER_BYTE: usize = 16;
const BUDGET_BASE: usize = 64 << 10;

/// The most memory decoding a frame of `frame_len` bytes may hold: what a [`Reader`]
/// charges its elements to.
pub fn decode_budget(frame_len: usize) -> usize {
    BUDGET_BASE + frame_len.saturating_mul(BUDGET_PER_BYTE)
}

/// Reads a frame from the network, checking every length against what is left.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    budget: usize,
}

impl<'a> Reader<'a> {
    /// A reader over one frame.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            budget: decode_budget(buf.len()),
        }
    }

    /// Position in the frame.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes { left }),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                at: self.pos,
                need: n,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Charges `bytes` of memory the decoder is about to hold.
    pub fn charge(&mut self, bytes: usize) -> Result<()> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(DecodeError::OverBudget {
                budget: decode_budget(self.buf.len()),
            })?;
        Ok(())
    }

    /// An unsigned varint of at most 5 bytes (Kafka's `UNSIGNED_VARINT`).
    pub fn unsigned_varint(&mut self) -> Result<u32> {
        let at = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>()?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint { at, max: 5 })
    }

    /// A zigzag varlong of at most 10 bytes (the record format's `VARLONG`).
    pub fn varlong(&mut self) -> Result<i64> {
        let at = self.pos;
        let mut raw: u64 = 0;
        for i in 0..10 {
            let [b] = self.array::<1>()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(DecodeError::BadVarint { at, max: 10 })
    }

    /// A zigzag varint (the record format's `VARINT`), as an i64 so callers bound it.
    pub fn varint(&mut self) -> Result<i64> {
        self.varlong()
    }

    /// A length or count: i16 or i32 (non-flexible) or unsigned varint + 1 (flexible).
    /// `None` is the null marker. The length is checked against the bytes left, each
    /// unit taking at least `unit` bytes.
    fn length(&mut self, flexible: bool, wide: bool, unit: usize) -> Result<Option<usize>> {
        let at = self.pos;
        let len: i64 = if flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(i32::from_be_bytes(self.array()?))
        } else {
            i64::from(i16::from_be_bytes(self.array()?))
        };
        if len == -1 {
            return Ok(None);
        }
        let left = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n.saturating_mul(unit.max(1)) <= left => Ok(Some(n)),
            _ => Err(DecodeError::BadLength { at, len, left }),
        }
    }

    /// A string's bytes (i16 length, or compact), `None` for null.
    pub fn string(&mut self, flexible: bool) -> Result<Option<&'a str>> {
        let Some(n) = self.length(flexible, false, 1)? else {
            return Ok(None);
        };
        let at = self.pos;
        let bytes = self.take(n)?;
        self.charge(n)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError::BadString { at })
    }

    /// A byte array (i32 length, or compact), `None` for null.
    pub fn bytes(&mut self, flexible: bool) -> Result<Option<&'a [u8]>> {
        let Some(n) = self.length(flexible, true, 1)? else {
            return Ok(None);
        };
        self.charge(n)?;
        self.take(n).map(Some)
    }

    /// An array's element count (i32, or compact), `None` for null. Each element takes
    /// at least `min_size` bytes on the wire.
    pub fn count(&mut self, flexible: bool, min_size: usize) -> Result<Option<usize>> {
        self.length(flexible, true, min_size)
    }

    /// Reads the tagged-field section of a flexible struct, handing each field's bytes to
    /// `known`, which returns whether it used them. Unknown tags are skipped.
    pub fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Reader<'a>) -> Result<bool>,
    ) -> Result<()> {
        let at = self.pos;
        let n = self.unsigned_varint()? as usize;
        if n > self.remaining() {
            return Err(DecodeError::BadLength {
                at,
                len: n as i64,
                left: self.remaining(),
            });
        }
        for _ in 0..n {
            let tag = self.unsigned_varint()?;
            let size_at = self.pos;
            let size = self.unsigned_varint()? as usize;
            if size > self.remaining() {
                return Err(DecodeError::BadLength {
                    at: size_at,
                    len: size as i64,
                    left: self.remaining(),
                });
            }
            let start = self.pos;
            let mut field = Reader {
                buf: &self.buf[..start + size],
                pos: start,
                budget: self.budget,
            };
            if known(tag, &mut field)? {
                field.finish()?;
            }
            self.budget = field.budget;
            self.pos = start + size;
        }
        Ok(())
    }
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reader {{ at {} of {} }}", self.pos, self.buf.len())
    }
}

/// Appends an unsigned varint.
pub fn put_unsigned_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Size of an unsigned varint.
pub fn unsigned_varint_size(v: u32) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Appends a zigzag varlong.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push(raw as u8 | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Appends a length or count in the form `flexible` and `wide` select; `None` is null.
pub(crate) fn put_length(out: &mut Vec<u8>, len: Option<usize>, flexible: bool, wide: bool) {
    match (flexible, len) {
        (true, None) => out.push(0),
        (true, Some(n)) => put_unsigned_varint(out, n as u32 + 1),
        (false, None) if wide => out.extend_from_slice(&(-1i32).to_be_bytes()),
        (false, None) => out.extend_from_slice(&(-1i16).to_be_bytes()),
        (false, Some(n)) if wide => out.extend_from_slice(&(n as i32).to_be_bytes()),
        (false, Some(n)) => out.extend_from_slice(&(n as i16).to_be_bytes()),
    }
}

/// Size of a length written by [`put_length`].
pub(crate) fn length_size(len: Option<usize>, flexible: bool, wide: bool) -> usize {
    match (flexible, len) {
        (true, None) => 1,
        (true, Some(n)) => unsigned_varint_size(n as u32 + 1),
        (false, _) if wide => 4,
        (false, _) => 2,
    }
}

/// A value with a Kafka wire form.
pub trait Wire: Sized {
    /// Fewest bytes one value takes on the wire, used to bound element counts.
    const MIN_SIZE: usize = 1;

    /// Reads a value.
    fn decode(r: &mut Reader<'_>, v: Version) -> Result<Self>;

    /// Appends the value.
    fn encode(&self, out: &mut Vec<u8>, v: Version);

    /// Bytes [`Wire::encode`] appends.
    fn size(&self, v: Version) -> usize;
}

/// A type whose wire form has a null marker (strings, byte arrays, arrays).
pub trait Nullable: Wire {
    /// Reads a value, `None` for null.
    fn decode_nullable(r: &mut Reader<'_>, v: Version) -> Result<Option<Self>>;

    /// Appends the null marker.
    fn encode_null(out: &mut Vec<u8>, v: Version);

    /// Size of the null marker.
    fn null_size(v: Version) -> usize;

    /// Appends a present value (structs write a marker before it).
    fn encode_present(&self, out: &mut Vec<u8>, v: Version) {
        self.encode(out, v);
    }

    /// Size of a present value.
    fn present_size(&self, v: Version) -> usize {
        self.size(v)
    }
}

impl<T: Nullable> Wire for Option<T> {
    const MIN_SIZE: usize = 1;

    fn decode(r: &mut Reader<'_>, v: Version) -> Result<Self> {
        T::decode_nullable(r, v)
    }

    fn encode(&self, out: &mut Vec<u8>, v: Version) {
        match self {
            Some(x) => x.encode_present(out, v),
            None => T::encode_null(out, v),
        }
    }

    fn size(&self, v: Version) -> usize {
        match self {
            Some(x) => x.present_size(v),
            None => T::null_size(v),
        }
    }
}

impl<T: Wire> Nullable for Vec<T> {
    fn decode_nullable(r: &mut Reader<'_>, v: Version) -> Result<Option<Self>> {
        let Some(n) = r.count(v.flexible, T::MIN_SIZE)? else {
            return Ok(None);
        };
        r.charge(n.saturating_mul(size_of::<T>()))?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::decode(r, v)?);
        }
        Ok(Some(out))
    }

    fn encode_null(out: &mut Vec<u8>, v: Version) {
        put_length(out, None, v.flexible, true);
    }

    fn null_size(v: Version) -> usize {
        length_size(None, v.flexible, true)
    }
}

impl<T: Wire> Wire for Vec<T> {
    const MIN_SIZE: usize = 1;

    fn decode(r: &mut Reader<'_>, v: Version) -> Result<Self> {
        let at = r.position();
        Self::decode_nullable(r, v)?.ok_or(DecodeError::UnexpectedNull { at })
    }

    fn encode(&self, out: &mut Vec<u8>, v: Version) {
        put_length(out, Some(self.len()), v.flexible, true);
        for x in self {
            x.encode(out, v);
        }
    }

    fn size(&self, v: Version) -> usize {
        length_size(Some(self.len()), v.flexible, true)
            + self.iter().map(|x| x.size(v)).sum::<usize>()
    }
}

/// The value of a field absent from a message's description: its declared default, or
/// the type's.
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_default {
    () => {
        ::core::default::Default::default()
    };
    ($default:expr) => {
        $default
    };
}

/// The tag of a field, if it is tagged.
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_tag {
    () => {
        ::core::option::Option::<u32>::None
    };
    ($tag:literal) => {
        ::core::option::Option::<u32>::Some($tag)
    };
}

/// Describes a struct of a Kafka message once; decode, encode and size follow.
///
/// ```text
/// wire_struct! {
///     /// doc
///     pub struct MetadataResponsePartition {
///         /// doc
///         error_code: i16 => 0..;
///         leader_epoch: i32 => 7.., default -1;
///         current_leader: LeaderIdAndEpoch => 12.., tag 1;
///     }
/// }
/// ```
///
/// Each field names the versions it exists in (a Rust range, inclusive as in Kafka's
/// specs), optionally a tag (it then lives in the tagged-field section of flexible
/// versions) and a default (the value when the version lacks it; the type's default
/// otherwise). Tagged fields are written only when they differ from their default, in
/// the order declared, which must be tag order.
#[macro_export]
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty => $versions:expr $(, tag $tag:literal)? $(, default $default:expr)? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self { $( $field: $crate::__wire_default!($($default)?), )* }
            }
        }

        impl $crate::codec::Wire for $name {
            fn decode(
                r: &mut $crate::codec::Reader<'_>,
                v: $crate::codec::Version,
            ) -> $crate::codec::Result<Self> {
                #[allow(unused_mut)]
                let mut out = Self::default();
                $(
                    if $crate::__wire_tag!($($tag)?).is_none() && ($versions).contains(&v.version) {
                        out.$field = $crate::codec::Wire::decode(r, v)?;
                    }
                )*
                if v.flexible {
                    r.tagged_fields(|_tag, _field| {
                        $(
                            if $crate::__wire_tag!($($tag)?) == Some(_tag) && ($versions).contains(&v.version) {
                                out.$field = $crate::codec::Wire::decode(_field, v)?;
                                return Ok(true);
                            }
                        )*
                        Ok(false)
                    })?;
                }
                Ok(out)
            }

            fn encode(&self, out: &mut ::std::vec::Vec<u8>, v: $crate::codec::Version) {
                $(
                    if $crate::__wire_tag!($($tag)?).is_none() && ($versions).contains(&v.version) {
                        $crate::codec::Wire::encode(&self.$field, out, v);
                    }
                )*
                if v.flexible {
                    #[allow(unused_variables)]
                    let default = Self::default();
                    #[allow(unused_mut)]
                    let mut tagged: u32 = 0;
                    $(
                        if $crate::__wire_tag!($($tag)?).is_some() && ($versions).contains(&v.version) && self.$field != default.$field {
                            tagged += 1;
                        }
                    )*
                    $crate::codec::put_unsigned_varint(out, tagged);
                    $(
                        if let Some(tag) = $crate::__wire_tag!($($tag)?) {
                            if ($versions).contains(&v.version) && self.$field != default.$field {
                                $crate::codec::put_unsigned_varint(out, tag);
                                let size = $crate::codec::Wire::size(&self.$field, v);
                                $crate::codec::put_unsigned_varint(out, size as u32);
                                $crate::codec::Wire::encode(&self.$field, out, v);
                            }
                        }
                    )*
                }
            }

            fn size(&self, v: $crate::codec::Version) -> usize {
                #[allow(unused_mut)]
                let mut n = 0;
                $(
                    if $crate::__wire_tag!($($tag)?).is_none() && ($versions).contains(&v.version) {
                        n += $crate::codec::Wire::size(&self.$field, v);
                    }
                )*
                if v.flexible {
                    #[allow(unused_variables)]
                    let default = Self::default();
                    #[allow(unused_mut)]
                    let mut tagged: u32 = 0;
                    $(
                        if let Some(tag) = $crate::__wire_tag!($($tag)?) {
                            if ($versions).contains(&v.version) && self.$field != default.$field {
                                tagged += 1;
                                let size = $crate::codec::Wire::size(&self.$field, v);
                                n += $crate::codec::unsigned_varint_size(tag)
                                    + $crate::codec::unsigned_varint_size(size as u32)
                                    + size;
                            }
                        }
                    )*
                    n += $crate::codec::unsigned_varint_size(tagged);
                }
                n
            }
        }

        // A nullable struct field: an i8 marker, -1 for null, 1 before the struct.
        impl $crate::codec::Nullable for $name {
            fn decode_nullable(
                r: &mut $crate::codec::Reader<'_>,
                v: $crate::codec::Version,
            ) -> $crate::codec::Result<Option<Self>> {
                let [marker] = r.array::<1>()?;
                if marker as i8 == -1 {
                    return Ok(None);
                }
                $crate::codec::Wire::decode(r, v).map(Some)
            }

            fn encode_null(out: &mut ::std::vec::Vec<u8>, _: $crate::codec::Version) {
                out.push(0xff);
            }

            fn null_size(_: $crate::codec::Version) -> usize {
                1
            }

            fn encode_present(&self, out: &mut ::std::vec::Vec<u8>, v: $crate::codec::Version) {
                out.push(1);
                $crate::codec::Wire::encode(self, out, v);
            }

            fn present_size(&self, v: $crate::codec::Version) -> usize {
                1 + $crate::codec::Wire::size(self, v)
            }
        }
    };
}

/// A request or response body: a top-level struct with its API key and versions.
pub trait Message: Wire {
    /// The API key.
    const KEY: i16;
    /// Lowest version implemented.
    const MIN_VERSION: i16;
    /// Highest version implemented.
    const MAX_VERSION: i16;
    /// First flexible version (`i16::MAX` if none).
    const FLEXIBLE_FROM: i16;

    /// The [`Version`] for `version`.
    fn version(version: i16) -> Version {
        Version {
            version,
            flexible: version >= Self::FLEXIBLE_FROM,
        }
    }
}

/// Declares a request and response pair as one API: key, implemented versions, first
/// flexible version.
#[macro_export]
macro_rules! wire_api {
    ($request:ty, $response:ty, key $key:literal, versions $min:literal ..= $max:literal, flexible $flex:expr) => {
        impl $crate::codec::Message for $request {
            const KEY: i16 = $key;
            const MIN_VERSION: i16 = $min;
            const MAX_VERSION: i16 = $max;
            const FLEXIBLE_FROM: i16 = $flex;
        }
        impl $crate::codec::Message for $response {
            const KEY: i16 = $key;
            const MIN_VERSION: i16 = $min;
            const MAX_VERSION: i16 = $max;
            const FLEXIBLE_FROM: i16 = $flex;
        }
    };
}

/// The version the broker's own records use (committed offsets, group metadata): the
/// plain, non-flexible forms.
pub const PLAIN: Version = Version {
    version: 0,
    flexible: false,
};

/// Encodes a value in its [`PLAIN`] form.
pub fn to_plain_bytes<W: Wire>(w: &W) -> Vec<u8> {
    let mut out = Vec::with_capacity(w.size(PLAIN));
    w.encode(&mut out, PLAIN);
    out
}

/// Decodes a value written by [`to_plain_bytes`].
pub fn from_plain_bytes<W: Wire>(bytes: &[u8]) -> Result<W> {
    W::decode(&mut Reader::new(bytes), PLAIN)
}

/// Decodes a body at `version`. Bytes after the message are ignored, as Kafka's own
/// readers ignore them: librdkafka 2.16 sends Metadata v12 for every topic with three
/// such bytes.
pub fn decode_body<M: Message>(buf: &[u8], version: i16) -> Result<M> {
    M::decode(&mut Reader::new(buf), M::version(version))
}

/// Encodes a body at `version`.
pub fn encode_body<M: Message>(m: &M, version: i16) -> Vec<u8> {
    let v = M::version(version);
    let mut out = Vec::with_capacity(m.size(v));
    m.encode(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    wire_struct! {
        /// A struct exercising every kind of field.
        pub struct Sample {
            a: i32 => 0..;
            b: Option<String> => 1..;
            c: Vec<i16> => 0..=2;
            d: i64 => 3.., tag 0, default -1;
            e: Option<Vec<String>> => 0..;
        }
    }

    impl Message for Sample {
        const KEY: i16 = 99;
        const MIN_VERSION: i16 = 0;
        const MAX_VERSION: i16 = 4;
        const FLEXIBLE_FROM: i16 = 3;
    }

    #[test]
    fn round_trip_every_version() {
        let s = Sample {
            a: 7,
            b: Some("hé".into()),
            c: vec![1, 2],
            d: 5,
            e: Some(vec!["x".into()]),
        };
        for version in 0..=4 {
            let bytes = encode_body(&s, version);
            assert_eq!(bytes.len(), s.size(Sample::version(version)));
            let back: Sample = decode_body(&bytes, version).unwrap();
            assert_eq!(back.a, 7);
            assert_eq!(back.b.is_some(), version >= 1, "v{version}");
            assert_eq!(back.c.len(), if version <= 2 { 2 } else { 0 });
            assert_eq!(back.d, if version >= 3 { 5 } else { -1 });
        }
    }

    #[test]
    fn tagged_default_is_not_written() {
        let s = Sample::default();
        let bytes = encode_body(&s, 3);
        // a, b (null compact string), e (null compact array), then zero tagged fields.
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_count_larger_than_the_frame_is_refused_before_allocating() {
        // a = 0, b = null, c = 0x7fffffff elements.
        let frame = [0, 0, 0, 0, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
        let err = decode_body::<Sample>(&frame, 1).unwrap_err();
        assert!(
            matches!(err, DecodeError::BadLength { at: 6, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_tags_are_skipped_and_known_ones_bounded() {
        let mut bytes = vec![0, 0, 0, 1, 0, 0];
        // Two tagged fields: unknown tag 5 with 2 bytes, then tag 0 with 1 byte (varlong?)
        bytes.extend_from_slice(&[2, 5, 2, 0xaa, 0xbb, 0, 8, 0, 0, 0, 0, 0, 0, 0, 9]);
        let s: Sample = decode_body(&bytes, 3).unwrap();
        assert_eq!(s.d, 9);
        // A tagged field claiming more bytes than the frame has.
        let bad = [0, 0, 0, 1, 0, 0, 1, 0, 100, 0];
        assert!(decode_body::<Sample>(&bad, 3).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 300, -300] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(Reader::new(&out).varlong().unwrap(), v);
        }
        for v in [0u32, 1, 127, 128, 16383, 16384, u32::MAX] {
            let mut out = Vec::new();
            put_unsigned_varint(&mut out, v);
            assert_eq!(out.len(), unsigned_varint_size(v));
            assert_eq!(Reader::new(&out).unsigned_varint().unwrap(), v);
        }
    }
}
