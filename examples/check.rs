fn main() {
    let p = std::env::args().nth(1).unwrap();
    match slamon::config::load(std::path::Path::new(&p)) {
        Ok(c) => println!("ok: {} monitors {} objectives", c.monitors.len(), c.objectives.len()),
        Err(e) => println!("{e}"),
    }
}
