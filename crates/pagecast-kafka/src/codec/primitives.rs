//! Wire forms of Kafka's field types: fixed-width integers, booleans, UUIDs, strings
//! and byte arrays (compact in flexible versions).

use std::fmt;

use super::{DecodeError, Nullable, Reader, Result, Version, Wire, length_size, put_length};

macro_rules! fixed {
    ($($ty:ty),*) => {$(
        impl Wire for $ty {
            const MIN_SIZE: usize = size_of::<$ty>();

            fn decode(r: &mut Reader<'_>, _: Version) -> Result<Self> {
                Ok(<$ty>::from_be_bytes(r.array()?))
            }

            fn encode(&self, out: &mut Vec<u8>, _: Version) {
                out.extend_from_slice(&self.to_be_bytes());
            }

            fn size(&self, _: Version) -> usize {
                size_of::<$ty>()
            }
        }
    )*};
}

fixed!(i8, i16, i32, i64, u16, u32, f64);

impl Wire for bool {
    fn decode(r: &mut Reader<'_>, _: Version) -> Result<Self> {
        Ok(r.array::<1>()? != [0])
    }

    fn encode(&self, out: &mut Vec<u8>, _: Version) {
        out.push(u8::from(*self));
    }

    fn size(&self, _: Version) -> usize {
        1
    }
}

/// A Kafka UUID (topic IDs): 16 bytes, all zero for "none".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no topic ID".
    pub const NIL: Uuid = Uuid([0; 16]);

    /// Whether this is [`Uuid::NIL`].
    pub fn is_nil(&self) -> bool {
        *self == Uuid::NIL
    }

    /// Parses the 32 hex digits [`fmt::Display`] writes.
    pub fn parse_hex(s: &str) -> Option<Uuid> {
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Uuid(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl Wire for Uuid {
    const MIN_SIZE: usize = 16;

    fn decode(r: &mut Reader<'_>, _: Version) -> Result<Self> {
        Ok(Uuid(r.array()?))
    }

    fn encode(&self, out: &mut Vec<u8>, _: Version) {
        out.extend_from_slice(&self.0);
    }

    fn size(&self, _: Version) -> usize {
        16
    }
}

impl Nullable for String {
    fn decode_nullable(r: &mut Reader<'_>, v: Version) -> Result<Option<Self>> {
        Ok(r.string(v.flexible)?.map(str::to_owned))
    }

    fn encode_null(out: &mut Vec<u8>, v: Version) {
        put_length(out, None, v.flexible, false);
    }

    fn null_size(v: Version) -> usize {
        length_size(None, v.flexible, false)
    }
}

impl Wire for String {
    fn decode(r: &mut Reader<'_>, v: Version) -> Result<Self> {
        let at = r.position();
        Self::decode_nullable(r, v)?.ok_or(DecodeError::UnexpectedNull { at })
    }

    fn encode(&self, out: &mut Vec<u8>, v: Version) {
        // Kafka strings are at most i16::MAX bytes; longer ones are cut at a char
        // boundary rather than written with a wrapped length.
        let mut end = self.len().min(i16::MAX as usize);
        while !self.is_char_boundary(end) {
            end -= 1;
        }
        put_length(out, Some(end), v.flexible, false);
        out.extend_from_slice(&self.as_bytes()[..end]);
    }

    fn size(&self, v: Version) -> usize {
        let len = self.len().min(i16::MAX as usize);
        length_size(Some(len), v.flexible, false) + len
    }
}

/// A byte array field (`bytes` in Kafka's specs; records are one).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Nullable for Bytes {
    fn decode_nullable(r: &mut Reader<'_>, v: Version) -> Result<Option<Self>> {
        Ok(r.bytes(v.flexible)?.map(|b| Bytes(b.to_vec())))
    }

    fn encode_null(out: &mut Vec<u8>, v: Version) {
        put_length(out, None, v.flexible, true);
    }

    fn null_size(v: Version) -> usize {
        length_size(None, v.flexible, true)
    }
}

impl Wire for Bytes {
    fn decode(r: &mut Reader<'_>, v: Version) -> Result<Self> {
        let at = r.position();
        Self::decode_nullable(r, v)?.ok_or(DecodeError::UnexpectedNull { at })
    }

    fn encode(&self, out: &mut Vec<u8>, v: Version) {
        put_length(out, Some(self.0.len()), v.flexible, true);
        out.extend_from_slice(&self.0);
    }

    fn size(&self, v: Version) -> usize {
        length_size(Some(self.0.len()), v.flexible, true) + self.0.len()
    }
}
