//! Compiles `protos/rollcall/v1/*.proto` with the vendored protoc, so a fresh machine needs only cargo.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    println!("cargo:rerun-if-changed=protos");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // Small per-stream buffers (src/codec.rs): one long stream per agent.
        .codec_path("crate::codec::SmallBufferCodec")
        // Every queued AgentMessage costs its largest variant inline: ~1 KiB
        // for a heartbeat with snapshots and deltas in place. Boxed, it is
        // a few dozen bytes (tests/sizes.rs prints and checks the sizes).
        .boxed(".rollcall.v1.AgentMessage.body.hello")
        .boxed(".rollcall.v1.AgentMessage.body.health")
        .boxed(".rollcall.v1.AgentMessage.body.snapshot")
        .boxed(".rollcall.v1.AgentMessage.body.delta")
        // Inventory items are stored and served as JSON by the collector.
        .type_attribute(
            ".rollcall.v1",
            "#[derive(serde::Serialize, serde::Deserialize)]",
        )
        .message_attribute(".rollcall.v1", "#[serde(default)]")
        .compile_with_config(config, &["protos/rollcall/v1/rollcall.proto"], &["protos"])?;
    Ok(())
}
