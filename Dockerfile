# passerelle: build and runtime images.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        libclang-dev libxmlsec1-dev libxml2-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin passerelle

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libxmlsec1 libxmlsec1-openssl libxml2 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /srv/passerelle passerelle \
    && mkdir -p /srv/passerelle/var/audit && chown -R passerelle /srv/passerelle/var
COPY --from=build /src/target/release/passerelle /usr/local/bin/passerelle
USER passerelle
WORKDIR /srv/passerelle
EXPOSE 8080
ENTRYPOINT ["passerelle"]
CMD ["serve", "--config", "/srv/passerelle/config/passerelle.toml"]
