//! Jurisdictions: whose records an auditor may search and whose audience figures a reader may
//! see. One type for both, written as `all`, `provider:<key>`, `ent:<idENT>` or
//! `school:<UAI>`.

use super::ids::{IdEnt, Uai};

/// Whose data a party may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jurisdiction {
    /// Everything (the ministry, a data protection officer).
    All,
    /// One provider (its configuration key): what was issued to it, or concerns its resources.
    Provider(String),
    /// One ENT project: its users and its schools.
    Ent(IdEnt),
    /// One school.
    School(Uai),
}

impl Jurisdiction {
    /// `all`, `provider:<key>`, `ent:<id>`, `school:<UAI>`.
    pub fn label(&self) -> String {
        match self {
            Self::All => "all".into(),
            Self::Provider(v) => format!("provider:{v}"),
            Self::Ent(v) => format!("ent:{v}"),
            Self::School(v) => format!("school:{v}"),
        }
    }

    pub fn is_all(&self) -> bool {
        *self == Self::All
    }
}

impl std::str::FromStr for Jurisdiction {
    type Err = String;

    /// Reads a [`Jurisdiction::label`]; `ministry` is read as `all`, and a UAI in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.split_once(':') {
            None if s == "all" || s == "ministry" => Ok(Self::All),
            Some(("provider", p)) if !p.is_empty() => Ok(Self::Provider(p.to_string())),
            Some(("ent", e)) => e.parse().map(Self::Ent).map_err(|e| format!("{e}")),
            Some(("school", u)) => u
                .to_ascii_uppercase()
                .parse()
                .map(Self::School)
                .map_err(|e| format!("{e}")),
            _ => Err(format!(
                "« {s} » : all, provider:<clé>, ent:<idENT> ou school:<UAI>"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Jurisdiction;

    #[test]
    fn a_label_reads_back() {
        for j in [
            Jurisdiction::All,
            Jurisdiction::Provider("editeur".into()),
            Jurisdiction::Ent("B0".parse().unwrap()),
            Jurisdiction::School("0561641E".parse().unwrap()),
        ] {
            assert_eq!(j.label().parse::<Jurisdiction>(), Ok(j.clone()));
        }
        assert_eq!(
            "school:0561641e".parse(),
            Ok(Jurisdiction::School("0561641E".parse().unwrap()))
        );
        assert!("school:0561641F".parse::<Jurisdiction>().is_err());
        assert!("provider:".parse::<Jurisdiction>().is_err());
        assert!("region:x".parse::<Jurisdiction>().is_err());
    }
}
