# framewut in a container: the load agent image `framewut k8s job --image`
# names, and a framewut to run anywhere Docker runs.
#
#   docker build -t registry.example/framewut:0.1.0 .
#   docker run --rm registry.example/framewut:0.1.0 load http://host:8080/hello -d 10s
#
# Stage 1 builds the release binary (LTO, one codegen unit: the profile the
# measurements are trusted through) with the versions in Cargo.lock. The
# slim Rust image has the C compiler that ring and the bundled SQLite need.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p framewut

# Stage 2 is the binary on slim Debian: it links only glibc; the CA bundle
# is there so that `load https://...` trusts what the system trusts (give
# --cacert or --insecure otherwise). Loading needs no privileges, so it runs
# as nobody.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/framewut /usr/local/bin/framewut
USER 65534:65534
ENTRYPOINT ["framewut"]
CMD ["--help"]
