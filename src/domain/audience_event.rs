//! The audience event: one per access handed to a resource, and how its dimensions are derived
//! (device class from the user agent, DNMA profile and service), and the channel it came by.
//!
//! Invariant: an event carries no name, no ENT user id and no IP address. The visitor is a keyed
//! HMAC of a pseudonymous subject under the day's salt (see `audience::visitor`), so it only links the
//! accesses of one day.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Profile;

/// How a user reached the resource: a web browser, or a native application (OIDC with PKCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    App,
}

impl Channel {
    /// The channel as events and counts name it (its serialised form).
    pub fn code(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
        }
    }
}

/// The device class of the DNMA tagging plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    Computer,
    Smartphone,
    Tablet,
    #[default]
    Other,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 4] = [
        DeviceClass::Computer,
        DeviceClass::Smartphone,
        DeviceClass::Tablet,
        DeviceClass::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DeviceClass::Computer => "computer",
            DeviceClass::Smartphone => "smartphone",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Other => "other",
        }
    }

    /// Classifies a `User-Agent` header. Tablets are told first (iPad, Android without
    /// "Mobile", Kindle/Silk), then phones, then desktop systems; bots, libraries, TVs, consoles
    /// and an absent header are `Other`.
    pub fn from_user_agent(ua: Option<&str>) -> Self {
        let Some(ua) = ua
            .map(str::to_ascii_lowercase)
            .filter(|u| !u.trim().is_empty())
        else {
            return DeviceClass::Other;
        };
        let has = |s: &str| ua.contains(s);
        if [
            "bot",
            "crawler",
            "spider",
            "curl/",
            "python-",
            "okhttp",
            "smart-tv",
            "smarttv",
            "playstation",
            "xbox",
            "nintendo",
        ]
        .iter()
        .any(|s| has(s))
        {
            return DeviceClass::Other;
        }
        if has("ipad")
            || has("tablet")
            || has("kindle")
            || has("silk/")
            || (has("android") && !has("mobile"))
        {
            return DeviceClass::Tablet;
        }
        if has("iphone")
            || has("ipod")
            || has("mobile")
            || has("windows phone")
            || has("blackberry")
        {
            return DeviceClass::Smartphone;
        }
        if has("windows nt")
            || has("macintosh")
            || has("mac os x")
            || has("x11")
            || has("cros")
            || has("linux")
        {
            return DeviceClass::Computer;
        }
        DeviceClass::Other
    }
}

/// The DNMA `PROFIL` of a GAR profile.
pub fn dnma_profile(p: Profile) -> &'static str {
    match p {
        Profile::Eleve => "ELEVE",
        Profile::Enseignant | Profile::Documentaliste => "ENSEIGNANT",
        Profile::Tuteur => "PARENT",
        Profile::VieScolaire | Profile::AdministratifTechnique | Profile::Direction => {
            "ADMIN_VIE_SCOL_TECH"
        }
        Profile::Collectivite | Profile::Academie => "AUTRE",
    }
}

/// The DNMA `TYPE` of every resource access: a third-party service.
pub const DNMA_TYPE: &str = "TIERS";

/// The DNMA `SERVICE` of a resource without a configured category.
pub const DEFAULT_SERVICE: &str = "RESSOURCE_DOCUMENTAIRE";

/// One access, as it travels through the stream and is counted. Field names are the dimension
/// names of the counts (`resource`, `provider`, `uai`, `ent`, `profile`, `channel`, `device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceEvent {
    /// Random, unique: what makes counting idempotent.
    pub id: String,
    pub at: DateTime<Utc>,
    /// `at` in milliseconds since the epoch (the double-click rule compares these).
    pub t: i64,
    /// The day of `at` in the audience time zone, `YYYY-MM-DD`.
    pub day: NaiveDate,
    pub resource: String,
    pub provider: String,
    pub uai: String,
    /// The ENT project (`idENT`).
    pub ent: String,
    /// The GAR profile code, e.g. `National_elv`.
    pub profile: String,
    pub channel: Channel,
    pub device: DeviceClass,
    /// DNMA `SERVICE` (the resource's category).
    pub service: String,
    /// DNMA `OUTIL`: the resource's name.
    pub outil: String,
    /// The day's visitor: HMAC-SHA256 of the pseudonymous subject under the day's salt, hex.
    pub visitor: String,
    /// In the first seconds of a day only: the same visitor under the previous day's salt, so
    /// that a double click across midnight is still recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_prev: Option<String>,
    /// The partition of the shared store's counts the person's events are counted in (a hash
    /// of the person, the same every day: see `counting::PARTS`). Events of earlier versions
    /// have none and are counted in the first.
    #[serde(default)]
    pub part: u8,
}

impl AudienceEvent {
    /// The GAR profile of the event, when it is a known code.
    pub fn gar_profile(&self) -> Option<Profile> {
        self.profile.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_classified() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", DeviceClass::Computer),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", DeviceClass::Computer),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", DeviceClass::Computer),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", DeviceClass::Computer),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", DeviceClass::Smartphone),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", DeviceClass::Smartphone),
            ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", DeviceClass::Tablet),
            ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", DeviceClass::Tablet),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", DeviceClass::Other),
            ("curl/8.5.0", DeviceClass::Other),
            ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36", DeviceClass::Other),
            ("", DeviceClass::Other),
        ];
        for (ua, want) in cases {
            assert_eq!(DeviceClass::from_user_agent(Some(ua)), want, "{ua}");
        }
        assert_eq!(DeviceClass::from_user_agent(None), DeviceClass::Other);
    }

    #[test]
    fn gar_profiles_map_to_dnma_profiles() {
        assert_eq!(dnma_profile(Profile::Eleve), "ELEVE");
        assert_eq!(dnma_profile(Profile::Documentaliste), "ENSEIGNANT");
        assert_eq!(dnma_profile(Profile::Tuteur), "PARENT");
        assert_eq!(dnma_profile(Profile::Direction), "ADMIN_VIE_SCOL_TECH");
        assert_eq!(dnma_profile(Profile::Academie), "AUTRE");
    }
}
