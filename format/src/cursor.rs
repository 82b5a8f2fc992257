//! A bounds-checked big-endian reader that turns every short read into a located error.

use crate::error::{Area, FormatError, Place};

/// Reads fields from `data`, reporting positions as `base + index` within `area`.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    area: Area,
}

impl<'a> Cursor<'a> {
    /// A reader over `data`, whose first byte is byte `base` of `area`.
    pub(crate) fn new(data: &'a [u8], base: usize, area: Area) -> Self {
        Cursor {
            data,
            pos: 0,
            base,
            area,
        }
    }

    /// The position of the next byte, counted in the area.
    pub(crate) fn position(&self) -> usize {
        self.base + self.pos
    }

    /// The area positions count in.
    pub(crate) fn area(&self) -> Area {
        self.area
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `len` bytes, or a truncation error naming `what` and `place`.
    pub(crate) fn take(
        &mut self,
        len: usize,
        what: &'static str,
        place: Place,
    ) -> Result<&'a [u8], FormatError> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(FormatError::Truncated {
                area: self.area,
                position: self.position(),
                place,
                what,
                expected: len as u64,
                found: remaining,
            });
        }
        let bytes = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(
        &mut self,
        what: &'static str,
        place: Place,
    ) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what, place)?);
        Ok(out)
    }

    /// A byte.
    pub(crate) fn u8(&mut self, what: &'static str, place: Place) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what, place)?[0])
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, what: &'static str, place: Place) -> Result<u16, FormatError> {
        self.array(what, place).map(u16::from_be_bytes)
    }

    /// A big-endian i32.
    pub(crate) fn i32(&mut self, what: &'static str, place: Place) -> Result<i32, FormatError> {
        self.array(what, place).map(i32::from_be_bytes)
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self, what: &'static str, place: Place) -> Result<u32, FormatError> {
        self.array(what, place).map(u32::from_be_bytes)
    }

    /// A big-endian i64.
    pub(crate) fn i64(&mut self, what: &'static str, place: Place) -> Result<i64, FormatError> {
        self.array(what, place).map(i64::from_be_bytes)
    }

    /// A big-endian u64.
    pub(crate) fn u64(&mut self, what: &'static str, place: Place) -> Result<u64, FormatError> {
        self.array(what, place).map(u64::from_be_bytes)
    }

    /// An error for a field just read (`width` bytes back) that holds an impossible value.
    pub(crate) fn invalid(
        &self,
        width: usize,
        what: &'static str,
        place: Place,
        value: i64,
    ) -> FormatError {
        FormatError::InvalidField {
            area: self.area,
            position: self.position() - width,
            place,
            what,
            value,
        }
    }
}
