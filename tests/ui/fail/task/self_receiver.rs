struct Counter(u32);

impl Counter {
    #[mp::task]
    fn bump(&mut self) {
        self.0 += 1;
    }
}

fn main() {}
