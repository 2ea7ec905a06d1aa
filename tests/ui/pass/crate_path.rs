extern crate mp as multiprocessing;

#[multiprocessing::task(crate = "multiprocessing")]
fn f(x: u8) -> u8 {
    x + 1
}

#[multiprocessing::main(crate = "::multiprocessing")]
fn main() {
    assert_eq!(f(1), 2);
}
