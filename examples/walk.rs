//! `cargo run --example walk -- PATH [USER] [r|w|x]`: the namei-style walk of one path.
use media_doctor::fs::{walk, Access, Identity};
use media_doctor::sysroot::SysRoot;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: walk PATH [USER] [r|w|x]"))?;
    let user = args.next().unwrap_or_else(|| "www-data".into());
    let want = match args.next().as_deref() {
        Some("x") => Access::EXEC,
        Some("w") => Access::WRITE | Access::EXEC,
        _ => Access::READ,
    };
    let root = match std::env::var_os("MD_ROOT") {
        Some(d) => SysRoot::new(d),
        None => SysRoot::live(),
    };
    let who = Identity::lookup(&root, &user)?;
    let w = walk(&root, std::path::Path::new(&path), &who, want);
    println!("{}", w.render());
    println!("{}", serde_json::to_string_pretty(&w.verification)?);
    Ok(())
}
