//! [`Text`]: a string that keeps short values inline, so most property values and event names
//! cost no allocation.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes kept inline, without allocation.
const INLINE: usize = 22;

/// An immutable UTF-8 string: up to 22 bytes inline, longer ones on the heap. The same size
/// as `String`; derefs to `str`.
///
/// Tracking allocates little beyond the event itself: the standard event's names and values
/// (`"purchase"`, `"book"`, `"USD"`) need no allocation at all, so neither the caller's thread
/// nor the worker spends time in the allocator for them.
///
/// # Examples
///
/// ```
/// use trackflow::value::Text;
/// let t = Text::from("book");
/// assert_eq!(&*t, "book");
/// assert!(t.is_inline());
/// assert!(!Text::from("a value longer than twenty-two bytes").is_inline());
/// ```
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    /// The text.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::value::Text::from("book").as_str(), "book");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only whole UTF-8 strings are ever stored, so this cannot fail.
            Repr::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize]).unwrap_or_default(),
            Repr::Heap(s) => s,
        }
    }

    /// The text's UTF-8 bytes, without re-validating them (writers that escape bytes use this
    /// on their hot path).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::value::Text::from("book").as_bytes(), b"book");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// Its length in bytes (without re-validating it, as `str::len` through `Deref` would).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trackflow::value::Text::from("é").len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::value::Text::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Whether the text is stored without allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trackflow::value::Text::from("short").is_inline());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Default for Text {
    fn default() -> Self {
        Text(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Text(Repr::Inline {
                len: s.len() as u8,
                buf,
            })
        } else {
            Text(Repr::Heap(s.into()))
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Text::from(s.as_str())
        } else {
            Text(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::from(s.as_str())
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        match t.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => t.as_str().to_owned(),
        }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, o: &Text) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        self.as_bytes() == o.as_bytes()
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Text::from(&*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_up_to_22_bytes_and_same_size_as_string() {
        assert_eq!(std::mem::size_of::<Text>(), std::mem::size_of::<String>());
        assert!(Text::from("x".repeat(22)).is_inline());
        assert!(!Text::from("x".repeat(23)).is_inline());
        assert_eq!(Text::from("中文").as_str(), "中文");
        assert_eq!(String::from(Text::from("y".repeat(40))), "y".repeat(40));
        assert_eq!(Text::from("a"), Text::from(String::from("a")));
    }
}
