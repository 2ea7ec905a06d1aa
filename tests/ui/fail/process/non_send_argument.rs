use std::rc::Rc;

fn main() {
    let shared = Rc::new(5);
    let _p = mp::Process::new(move || println!("{shared}"), ());
}
