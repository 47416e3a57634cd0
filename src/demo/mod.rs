//! `passerelle demo`: the whole system on one machine (placeholder until the demo lands).

pub async fn run(_port: u16) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not built yet")
}
