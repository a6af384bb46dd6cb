//! Compiles `protos/rollcall/v1/*.proto` with the vendored protoc, so a fresh machine needs only cargo.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    println!("cargo:rerun-if-changed=protos");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // Small per-stream buffers (src/codec.rs): one long stream per agent.
        .codec_path("crate::codec::SmallBufferCodec")
        // Inventory items are stored and served as JSON by the collector.
        .type_attribute(
            ".rollcall.v1",
            "#[derive(serde::Serialize, serde::Deserialize)]",
        )
        .message_attribute(".rollcall.v1", "#[serde(default)]")
        .compile_with_config(config, &["protos/rollcall/v1/rollcall.proto"], &["protos"])?;
    Ok(())
}
