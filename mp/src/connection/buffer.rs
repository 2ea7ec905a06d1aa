//! Python's buffer protocol, for `send_bytes` and `recv_bytes_into`: bytes, or the raw memory
//! of arrays of numbers (Python's `array('i', ...)`).

mod sealed {
    pub trait Sealed {}
}

/// A plain number whose memory can be sent as bytes and filled from any bytes: `u8`...`u128`,
/// `i8`...`i128`, `usize`, `isize`, `f32`, `f64` (the item types of Python's `array`).
///
/// Sealed: every bit pattern must be a valid value and there must be no padding.
///
/// # Examples
///
/// ```
/// fn size_of_items<T: mp::connection::Element>(items: &[T]) -> usize {
///     std::mem::size_of_val(items)
/// }
/// assert_eq!(size_of_items(&[1i32, 2]), 8);
/// ```
pub trait Element: sealed::Sealed + Copy + 'static {}

macro_rules! elements {
    ($($t:ty)*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {}
    )*};
}
elements! { u8 i8 u16 i16 u32 i32 u64 i64 u128 i128 usize isize f32 f64 }

/// Something whose bytes [`send_bytes`](super::Connection::send_bytes) can send: a slice,
/// array or `Vec` of [`Element`]s (bytes included), or a reference to one.
///
/// # Examples
///
/// ```
/// use mp::connection::Buffer;
/// assert_eq!(b"ab".as_bytes(), b"ab");
/// assert_eq!([1u16].as_bytes().len(), 2);
/// ```
pub trait Buffer {
    /// The memory as bytes.
    fn as_bytes(&self) -> &[u8];
}

/// Something [`recv_bytes_into`](super::Connection::recv_bytes_into) can fill: a mutable
/// slice, array or `Vec` of [`Element`]s.
///
/// # Examples
///
/// ```
/// use mp::connection::BufferMut;
/// let mut a = [0u16; 2];
/// a.as_bytes_mut()[0] = 1;
/// assert_eq!(a[0], u16::from_ne_bytes([1, 0]));
/// ```
pub trait BufferMut {
    /// The memory as mutable bytes.
    fn as_bytes_mut(&mut self) -> &mut [u8];
}

impl<T: Element> Buffer for [T] {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Element` types have no padding, so every byte of the slice is initialised;
        // the length is the slice's size in bytes and u8 has alignment 1.
        unsafe {
            std::slice::from_raw_parts(self.as_ptr().cast::<u8>(), std::mem::size_of_val(self))
        }
    }
}

impl<T: Element> BufferMut for [T] {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = std::mem::size_of_val(self);
        // SAFETY: as above, and every bit pattern is a valid `Element`, so any bytes written
        // through the view leave valid values; the view borrows `self` mutably.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr().cast::<u8>(), len) }
    }
}

impl<T: Element, const N: usize> Buffer for [T; N] {
    fn as_bytes(&self) -> &[u8] {
        self[..].as_bytes()
    }
}

impl<T: Element, const N: usize> BufferMut for [T; N] {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self[..].as_bytes_mut()
    }
}

impl<T: Element> Buffer for Vec<T> {
    fn as_bytes(&self) -> &[u8] {
        self[..].as_bytes()
    }
}

impl<T: Element> BufferMut for Vec<T> {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        self[..].as_bytes_mut()
    }
}

impl<B: Buffer + ?Sized> Buffer for &B {
    fn as_bytes(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

impl<B: Buffer + ?Sized> Buffer for &mut B {
    fn as_bytes(&self) -> &[u8] {
        (**self).as_bytes()
    }
}

impl<B: BufferMut + ?Sized> BufferMut for &mut B {
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        (**self).as_bytes_mut()
    }
}
