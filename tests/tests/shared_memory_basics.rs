//! SharedMemory (CONFORMANCE section 13), across processes of every start method, unrelated
//! processes, and CPython.

mod sync_common;

use std::process::Command;

use mp::shared_memory::SharedMemory;
use mp::{ErrorKind, Process};
use sync_common::*;

fn unique(tag: &str) -> String {
    format!("mp_test_{}_{tag}", std::process::id())
}

#[mp::task]
fn write_by_name(name: String, at: usize) -> mp::Result<()> {
    let shm = SharedMemory::attach(&name)?;
    shm.write(at, b"by name")
}

#[mp::task]
fn write_by_handle(shm: SharedMemory, at: usize) -> mp::Result<()> {
    shm.write(at, b"by handle")
}

#[mp::test]
fn basics() {
    let name = unique("basics");
    let shm = SharedMemory::builder()
        .name(&name)
        .size(512)
        .create()
        .unwrap();
    assert_eq!(shm.name(), name, "no leading slash");
    assert!(shm.size() >= 512);
    assert!(shm.buf().len() >= shm.size());
    let repr = format!("{shm:?}");
    assert!(repr.contains(&name) && repr.contains("512"), "{repr}");

    // A second handle attached by name sees the writes.
    shm.write(0, b"howdy").unwrap();
    let other = SharedMemory::attach(&name).unwrap();
    assert_eq!(other.read_range(0..5).unwrap(), b"howdy");
    other.write(5, b"!").unwrap();
    assert_eq!(shm.read_range(0..6).unwrap(), b"howdy!");

    // Attaching with a larger size ignores it.
    let third = SharedMemory::builder()
        .name(&name)
        .size(1 << 20)
        .attach()
        .unwrap();
    assert_eq!(third.size(), shm.size());

    // Creating an existing name fails (FileExistsError).
    let e = SharedMemory::builder()
        .name(&name)
        .size(512)
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Os);
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));

    shm.unlink().unwrap();
    // FileNotFoundError after unlink, for attach and a second unlink.
    assert_eq!(
        SharedMemory::attach(&name).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    assert_eq!(
        other.unlink().unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    // The mappings stay usable until closed.
    assert_eq!(third.read_range(0..6).unwrap(), b"howdy!");
}

#[test]
fn invalid_creation_and_names() {
    let e = SharedMemory::builder().size(0).create().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(e.to_string().contains("'size' must be a positive number"));
    let e = SharedMemory::builder().attach().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    let e = SharedMemory::attach("mp\0test").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(e.to_string().contains("null character"));
    let e = SharedMemory::builder()
        .name("a/b")
        .size(8)
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Value);
    assert_eq!(
        SharedMemory::attach(&"x".repeat(300)).unwrap_err().kind(),
        ErrorKind::Value
    );
}

#[mp::test]
fn random_names_are_distinct() {
    let a = SharedMemory::create(8).unwrap();
    let b = SharedMemory::create(8).unwrap();
    assert!(a.name().starts_with("psm_"));
    assert_ne!(a.name(), b.name());
    a.unlink().unwrap();
    b.unlink().unwrap();
}

#[mp::test]
fn close_then_unlink() {
    let mut shm = SharedMemory::create(16).unwrap();
    shm.write(0, b"x").unwrap();
    shm.close();
    shm.close(); // idempotent
    assert!(shm.buf().is_empty());
    assert_eq!(shm.read_range(0..1).unwrap_err().kind(), ErrorKind::Value);
    assert_eq!(shm.write(0, b"y").unwrap_err().kind(), ErrorKind::Value);
    shm.unlink().unwrap();
}

#[mp::test]
fn out_of_bounds_and_atomic_bytes() {
    use std::sync::atomic::Ordering;
    let shm = SharedMemory::create(100).unwrap();
    assert_eq!(
        shm.write(95, b"123456").unwrap_err().kind(),
        ErrorKind::Index
    );
    assert_eq!(shm.read_range(0..101).unwrap_err().kind(), ErrorKind::Index);
    // Unaligned bulk copies round-trip.
    let data: Vec<u8> = (0..=90).collect();
    shm.write(3, &data).unwrap();
    assert_eq!(shm.read_range(3..94).unwrap(), data);
    shm.buf()[0].store(7, Ordering::Relaxed);
    assert_eq!(shm.buf()[0].load(Ordering::Relaxed), 7);
    let mut shm = shm;
    // SAFETY: nobody else knows this segment.
    unsafe { shm.as_mut_slice()[1] = 8 };
    // SAFETY: as above.
    assert_eq!(unsafe { shm.as_slice() }[..2], [7, 8]);
    shm.unlink().unwrap();
}

#[mp::test]
fn serializes_by_name() {
    let shm = SharedMemory::create(32).unwrap();
    let (a, b) = mp::Pipe(true).unwrap();
    a.send(&shm).unwrap();
    let got: SharedMemory = b.recv().unwrap();
    assert_eq!(got.name(), shm.name());
    got.write(0, b"both ways").unwrap();
    assert_eq!(shm.read_range(0..9).unwrap(), b"both ways");
    a.send(&shm).unwrap();
    shm.unlink().unwrap();
    // Unpickling after unlink fails (FileNotFoundError).
    let e = b.recv::<SharedMemory>().unwrap_err();
    assert!(e.to_string().contains("No such file"), "{e}");
}

#[mp::test]
fn children_attach_by_name_and_by_handle() {
    for m in methods() {
        let shm = SharedMemory::create(64).unwrap();
        let by_name = Process::builder(write_by_name, (shm.name().to_string(), 0))
            .start_method(m)
            .build();
        let handle = SharedMemory::attach(shm.name()).unwrap();
        let by_handle = Process::builder(write_by_handle, (handle, 32))
            .start_method(m)
            .build();
        start(&by_name);
        start(&by_handle);
        join_ok(&by_name);
        join_ok(&by_handle);
        assert_eq!(shm.read_range(0..7).unwrap(), b"by name", "{m}");
        assert_eq!(shm.read_range(32..41).unwrap(), b"by handle", "{m}");
        shm.unlink().unwrap();
    }
}

fn python(code: &str) -> Option<std::process::Output> {
    Command::new("python3").arg("-c").arg(code).output().ok()
}

#[mp::test]
fn cpython_attaches_to_our_segment_and_we_to_its() {
    let shm = SharedMemory::create(64).unwrap();
    shm.write(0, b"from rust").unwrap();
    let code = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory({:?})\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         print(bytes(s.buf[:9]).decode())\n\
         s.buf[16:27] = b'from python'\n\
         s.close()\n",
        shm.name()
    );
    let out = python(&code).expect("python3 (CPython) is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from rust");
    assert_eq!(shm.read_range(16..27).unwrap(), b"from python");
    shm.unlink().unwrap();

    let name = unique("from_python");
    let code = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory({name:?}, create=True, size=100)\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         s.buf[:5] = b'hello'\n\
         s.close()\n"
    );
    let out = python(&code).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = SharedMemory::attach(&name).unwrap();
    assert_eq!(theirs.size(), 100);
    assert_eq!(theirs.read_range(0..5).unwrap(), b"hello");
    theirs.unlink().unwrap();
}
