//! A person's name as the greeter accepts it: at most [`MAX_NAME_CHARS`] characters, no
//! control characters, and something left after trimming white space.

use std::fmt;

use super::{DomainError, limits::MAX_NAME_CHARS};

/// A validated, trimmed name. The only way to build one is [`Name::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Checks the rules in a fixed order (length, control characters, emptiness), so that an
    /// input breaking several of them always gets the same error on every protocol.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::check(raw).map(|()| Self(raw.trim().to_owned()))
    }

    /// The rules of [`Name::parse`], for a name that is kept as it came (a record sent back).
    pub fn check(raw: &str) -> Result<(), DomainError> {
        // A string of n bytes holds at most n characters: most names skip the count.
        if raw.len() > MAX_NAME_CHARS {
            let len = raw.chars().count();
            if len > MAX_NAME_CHARS {
                return Err(DomainError::NameTooLong { len });
            }
        }
        if let Some((index, c)) = raw.char_indices().find(|(_, c)| c.is_control()) {
            return Err(DomainError::NameHasControlCharacter { code_point: c.into(), index });
        }
        if raw.trim().is_empty() {
            return Err(DomainError::EmptyName);
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_is_kept() {
        assert_eq!(Name::parse("Ada").unwrap().as_str(), "Ada");
    }

    #[test]
    fn surrounding_white_space_is_trimmed() {
        assert_eq!(Name::parse("  Ada Lovelace  ").unwrap().as_str(), "Ada Lovelace");
    }

    #[test]
    fn unicode_names_are_welcome() {
        for name in ["Zoë", "李小龙", "Łukasz", "🦀 Ferris", "שלום"] {
            assert_eq!(Name::parse(name).unwrap().as_str(), name, "{name}");
        }
    }

    #[test]
    fn empty_and_blank_names_are_rejected() {
        for raw in ["", " ", "   ", "\u{3000}", "\u{a0}"] {
            assert_eq!(Name::parse(raw), Err(DomainError::EmptyName), "{raw:?}");
        }
    }

    #[test]
    fn exactly_max_characters_is_accepted() {
        let raw = "a".repeat(MAX_NAME_CHARS);
        assert_eq!(Name::parse(&raw).unwrap().as_str(), raw);
    }

    #[test]
    fn one_character_over_the_max_is_rejected() {
        let raw = "a".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(Name::parse(&raw), Err(DomainError::NameTooLong { len: MAX_NAME_CHARS + 1 }));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let four_byte_characters = "🦀".repeat(MAX_NAME_CHARS);
        assert_eq!(Name::parse(&four_byte_characters).unwrap().as_str(), four_byte_characters);
        let raw = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(Name::parse(&raw), Err(DomainError::NameTooLong { len: MAX_NAME_CHARS + 1 }));
    }

    #[test]
    fn control_characters_are_rejected_wherever_they_are() {
        for (raw, code_point, index) in [
            ("\0Ada", 0x00, 0),
            ("Ada\n", 0x0A, 3),
            ("A\tda", 0x09, 1),
            ("Ada\u{7f}", 0x7F, 3),
            ("Zoë\u{85}", 0x85, 4),
        ] {
            assert_eq!(
                Name::parse(raw),
                Err(DomainError::NameHasControlCharacter { code_point, index }),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn length_is_checked_before_control_characters() {
        let raw = format!("\n{}", "a".repeat(MAX_NAME_CHARS));
        assert!(matches!(Name::parse(&raw), Err(DomainError::NameTooLong { .. })));
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            Name::parse("a\n").unwrap_err().to_string(),
            "name must not contain control characters (found U+000A at byte 1)"
        );
        assert_eq!(
            Name::parse(&"a".repeat(300)).unwrap_err().to_string(),
            "name is 300 characters long; at most 256 are allowed"
        );
    }
}
