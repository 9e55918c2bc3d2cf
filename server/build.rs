//! Release builds embed the compiled site (`target/site`, see `src/assets.rs`): rebuild the binary
//! whenever the site changes. Debug builds read the site at run time and need no rebuild.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo::rerun-if-changed=../target/site");
    }
}
