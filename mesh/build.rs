//! Compiles `proto/meshcon.proto` with protox (pure Rust), so a fresh machine
//! needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/meshcon.proto");
    let descriptors = protox::compile(["proto/meshcon.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .type_attribute(".", "#[serde(default)]")
        .field_attribute(
            "Addresses.app",
            "#[serde(skip_serializing_if = \"Option::is_none\")]",
        )
        .field_attribute(
            "Addresses.inbound",
            "#[serde(skip_serializing_if = \"Option::is_none\")]",
        )
        .field_attribute(
            "Addresses.outbound",
            "#[serde(skip_serializing_if = \"Option::is_none\")]",
        )
        .field_attribute(
            "Addresses.admin",
            "#[serde(skip_serializing_if = \"Option::is_none\")]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
