#[mp::main(start_method = "spawn")]
fn main() {
    assert_eq!(mp::get_start_method(), mp::StartMethod::Spawn);
}
