//! `check_codes!`: how a protocol's checks and error codes are declared (an enum, one variant a check, with the
//! stable code that pages, logs, traces and metrics carry). Callers match the enum
//! exhaustively, so a new check cannot reach a user without an answer of its own.

/// Declares `enum $name` with `code()` (`$prefix`, e.g. `saml.`, then the variant's code), `ALL`, `Display`
/// (the code) and comparison with a code string.
macro_rules! check_codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $prefix:literal {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every check, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable code, e.g. `saml.signature`.
            pub const fn code(self) -> &'static str {
                match self {
                    $($name::$variant => concat!($prefix, $code),)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.code() == *other
            }
        }
    };
}

pub(crate) use check_codes;

#[cfg(test)]
mod tests {
    check_codes! {
        enum Sample: "sample." {
            First = "first",
            SecondOne = "second_one",
        }
    }

    #[test]
    fn codes_are_prefixed_listed_displayed_and_compared() {
        assert_eq!(Sample::ALL, &[Sample::First, Sample::SecondOne]);
        assert_eq!(Sample::SecondOne.code(), "sample.second_one");
        assert_eq!(Sample::First.to_string(), "sample.first");
        assert!(Sample::First == "sample.first");
        assert!(Sample::First != "sample.second_one");
    }
}
