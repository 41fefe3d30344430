//! Build script: new migration files must trigger a rebuild of the embedded migrator.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
