//! Every Redis key family, in one place.
//!
//! Keys are `{prefix}:...`. Families that multi-key operations touch together share a
//! hash tag (`{...}`) so they land in one Redis Cluster slot:
//! - a directory's versioned data and its `current` pointer share `{dir:<idENT>}`;
//! - subscriptions, their resource/school index and assignments share `{abo}`;
//! - the outbox of logout deliveries (values, due times, expiries) shares `{outbox}`.
//!
//! Single-key families (sessions, pending logins, one-time ids, OIDC tokens) are spread over
//! the cluster.

/// Builds key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn session(&self, id: &str) -> String {
        format!("{}:sess:{}", self.prefix, id)
    }

    pub fn pending_login(&self, id: &str) -> String {
        format!("{}:login:{}", self.prefix, id)
    }

    pub fn once(&self, namespace: &str, id: &str) -> String {
        format!("{}:once:{}:{}", self.prefix, namespace, id)
    }

    /// A protocol record (OIDC code, grant, refresh token, revocation) of one kind.
    pub fn token(&self, kind: &str, key: &str) -> String {
        format!("{}:tok:{}:{}", self.prefix, kind, key)
    }

    fn dir_tag(&self, ent: &str) -> String {
        format!("{}:{{dir:{}}}", self.prefix, ent)
    }

    /// The version number of an ENT's live directory.
    pub fn dir_current(&self, ent: &str) -> String {
        format!("{}:current", self.dir_tag(ent))
    }

    /// Counter from which new directory versions are drawn.
    pub fn dir_version_seq(&self, ent: &str) -> String {
        format!("{}:seq", self.dir_tag(ent))
    }

    /// Hash `person id -> JSON` of one directory version.
    pub fn dir_persons(&self, ent: &str, version: u64) -> String {
        format!("{}:v{}:persons", self.dir_tag(ent), version)
    }

    /// School `uai -> idENT`, so that a school finds its ENT's directory.
    pub fn school_ent(&self) -> String {
        format!("{}:school-ent", self.prefix)
    }

    /// Hash `uai -> School JSON` of one directory version.
    pub fn dir_schools(&self, ent: &str, version: u64) -> String {
        format!("{}:v{}:schools", self.dir_tag(ent), version)
    }

    /// Hash `uai -> JSON array of person ids` (the school's members) of one directory version.
    pub fn dir_school_members(&self, ent: &str, version: u64) -> String {
        format!("{}:v{}:members", self.dir_tag(ent), version)
    }

    /// Hash `uai -> JSON array of groups` of one directory version.
    pub fn dir_groups(&self, ent: &str, version: u64) -> String {
        format!("{}:v{}:groups", self.dir_tag(ent), version)
    }

    /// Hash `resource id -> Resource JSON`.
    pub fn catalogue(&self) -> String {
        format!("{}:catalogue", self.prefix)
    }

    /// Subscription JSON by id.
    pub fn subscription(&self, id: &str) -> String {
        format!("{}:{{abo}}:sub:{}", self.prefix, id)
    }

    /// Set of subscription ids for one resource and one school:
    /// `subscription_index_prefix() + uai + ":" + resource`.
    pub fn subscription_index(&self, resource: &str, uai: &str) -> String {
        format!("{}{}:{}", self.subscription_index_prefix(), uai, resource)
    }

    /// The common start of every subscription index key (used inside Lua scripts).
    pub fn subscription_index_prefix(&self) -> String {
        format!("{}:{{abo}}:idx:", self.prefix)
    }

    /// Set of the subscription ids of one commercial distributor.
    pub fn distributor_subscriptions(&self, distributor_id: &str) -> String {
        format!("{}{}", self.distributor_index_prefix(), distributor_id)
    }

    /// The common start of every distributor index key (used inside Lua scripts).
    pub fn distributor_index_prefix(&self) -> String {
        format!("{}:{{abo}}:dist:", self.prefix)
    }

    /// Set of assignment JSON values for one subscription in one school.
    pub fn assignments(&self, subscription_id: &str, uai: &str) -> String {
        format!("{}:{{abo}}:aff:{}:{}", self.prefix, subscription_id, uai)
    }

    /// The common start of the per-school subscription sets (`sch:<uai>` → subscription ids).
    pub fn school_subscriptions_prefix(&self) -> String {
        format!("{}:{{abo}}:sch:", self.prefix)
    }

    /// Set by the one-time building of the per-school subscription sets.
    pub fn school_index_marker(&self) -> String {
        format!("{}:{{abo}}:sch-indexed", self.prefix)
    }

    /// The version of one subscription's assignments (for licence-checked additions).
    pub fn assignments_version(&self, subscription_id: &str) -> String {
        format!("{}:{{abo}}:affver:{}", self.prefix, subscription_id)
    }

    /// The common start of one ENT's versioned directory hashes: `+ version + ":persons"`...
    pub fn dir_version_base(&self, ent: &str) -> String {
        format!("{}:v", self.dir_tag(ent))
    }

    /// The common start of the per-school listing stamps (`lst:<uai>`), moved by every write
    /// of a subscription covering the school and of its assignments.
    pub fn listing_stamp_prefix(&self) -> String {
        format!("{}:{{abo}}:lst:", self.prefix)
    }

    /// The listing stamp of one school.
    pub fn listing_stamp(&self, uai: &str) -> String {
        format!("{}{}", self.listing_stamp_prefix(), uai)
    }

    /// The catalogue's stamp, moved by every write to the catalogue.
    pub fn catalogue_stamp(&self) -> String {
        format!("{}:{{abo}}:catver", self.prefix)
    }

    /// The audience's stream and day salts, and the first partition of its counts, share the
    /// `{aud}` tag.
    pub fn audience(&self, rest: &str) -> String {
        self.audience_part(0, rest)
    }

    /// A partition of the audience counts (`domain::counting::PARTS`): its counts hashes,
    /// counted ids, last clicks and visitors' days share one tag (`{aud}` for the first,
    /// `{aud.<n>}` for the others), so that its counting script is atomic in a cluster and
    /// partitions spread over its nodes.
    pub fn audience_part(&self, part: u8, rest: &str) -> String {
        if part == 0 {
            format!("{}:{{aud}}:{}", self.prefix, rest)
        } else {
            format!("{}:{{aud.{part}}}:{}", self.prefix, rest)
        }
    }

    /// The stream of audience events.
    pub fn audience_stream(&self) -> String {
        self.audience("events")
    }

    /// The outbox (`store::outbox`): hash `id -> value`, sorted sets `id` by the time from
    /// which any node may claim it and by expiry; one `{outbox}` slot, so a claim is one
    /// atomic script in a cluster.
    pub fn outbox(&self) -> [String; 3] {
        ["items", "due", "expiry"].map(|k| format!("{}:{{outbox}}:{k}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_tag(key: &str) -> Option<&str> {
        let open = key.find('{')?;
        let close = key[open + 1..].find('}')? + open + 1;
        Some(&key[open + 1..close])
    }

    #[test]
    fn families_used_together_share_a_hash_tag() {
        let k = Keys::new("pas");
        assert_eq!(
            slot_tag(&k.dir_current("B0")),
            slot_tag(&k.dir_persons("B0", 3))
        );
        assert_eq!(
            slot_tag(&k.dir_current("B0")),
            slot_tag(&k.dir_groups("B0", 3))
        );
        assert_eq!(
            slot_tag(&k.dir_current("B0")),
            slot_tag(&k.dir_school_members("B0", 3))
        );
        assert_ne!(
            slot_tag(&k.dir_current("B0")),
            slot_tag(&k.dir_current("Z0"))
        );
        assert_eq!(
            slot_tag(&k.subscription("a")),
            slot_tag(&k.subscription_index("ark:/1/x", "0561641E"))
        );
        assert_eq!(
            slot_tag(&k.subscription("a")),
            slot_tag(&k.assignments("a", "0561641E"))
        );
        assert_eq!(
            slot_tag(&k.subscription("a")),
            slot_tag(&k.listing_stamp("0561641E"))
        );
        assert_eq!(
            slot_tag(&k.listing_stamp("0561641E")),
            slot_tag(&k.catalogue_stamp())
        );
        assert!(k
            .dir_persons("B0", 3)
            .starts_with(&format!("{}3:", k.dir_version_base("B0"))));
        assert!(k
            .dir_schools("B0", 3)
            .starts_with(&format!("{}3:", k.dir_version_base("B0"))));
        let [items, due, expiry] = k.outbox();
        assert_eq!(slot_tag(&items), Some("outbox"));
        assert_eq!(slot_tag(&items), slot_tag(&due));
        assert_eq!(slot_tag(&items), slot_tag(&expiry));
        assert_eq!(slot_tag(&k.session("s")), None);
    }
}
