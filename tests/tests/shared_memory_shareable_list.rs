//! ShareableList (CONFORMANCE section 13): CPython's layout and semantics, checked against
//! CPython itself.

mod sync_common;

use std::process::Command;

use mp::shared_memory::{Item, ShareableList};
use mp::{ErrorKind, Process};
use sync_common::*;

fn unique(tag: &str) -> String {
    format!("mp_test_{}_{tag}", std::process::id())
}

fn sample() -> Vec<Item> {
    vec![
        "howdy".into(),
        b"HoWdY"[..].into(),
        (-273.154).into(),
        100.into(),
        Item::None,
        true.into(),
        42.into(),
    ]
}

#[mp::task]
fn bump_last(sl: ShareableList) -> mp::Result<()> {
    let Item::Int(v) = sl.get(-1)? else {
        return Err(mp::Error::new(ErrorKind::Type, "not an int"));
    };
    sl.set(-1, v + 1)
}

#[mp::test]
fn shareable_list_basics() {
    let sl = ShareableList::new(sample()).unwrap();
    let repr = format!("{sl:?}");
    assert!(repr.contains(sl.shm().name()), "{repr}");
    assert!(
        repr.contains("['howdy', b'HoWdY', -273.154, 100, None, True, 42]"),
        "{repr}"
    );

    assert_eq!(sl.get(7).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(sl.set(7, 2).unwrap_err().kind(), ErrorKind::Index);
    assert_eq!(sl.get(-8).unwrap_err().kind(), ErrorKind::Index);

    sl.set(0, "howdy").unwrap();
    assert_eq!(sl.format().unwrap(), "8s8sdqxxxxxx?xxxxxxxx?q");
    assert_eq!(sl.len(), 7);
    assert_eq!(
        sl.index(&"100".into()).unwrap_err().kind(),
        ErrorKind::Value
    );
    assert_eq!(sl.index(&100.into()).unwrap(), 3);
    assert_eq!(sl.get(0).unwrap(), "howdy".into());
    assert_eq!(sl.get(-2).unwrap(), Item::Bool(true));
    assert_eq!(sl.to_vec().unwrap(), sample());

    sl.set(3, 42).unwrap();
    assert_eq!(sl.get(3).unwrap(), 42.into());
    sl.set(4, "some").unwrap(); // a new type in place
    assert_eq!(sl.get(4).unwrap(), "some".into());
    assert_eq!(sl.format().unwrap(), "8s8sdq8sxxxxxxx?q");
    let e = sl.set(4, "far too many").unwrap_err();
    assert!(e.to_string().contains("exceeds available storage"), "{e}");
    assert_eq!(sl.get(4).unwrap(), "some".into());
    sl.set(0, "encodés").unwrap(); // exactly 8 bytes of UTF-8
    assert_eq!(sl.get(0).unwrap(), "encodés".into());
    assert_eq!(sl.get(1).unwrap(), b"HoWdY"[..].into(), "no spillage");
    assert!(sl.set(0, "encodées").is_err()); // 9 bytes
    assert_eq!(sl.get(1).unwrap(), b"HoWdY"[..].into());
    assert!(sl.set(1, &b"123456789"[..]).is_err());
    assert_eq!(sl.get(1).unwrap(), b"HoWdY"[..].into());

    assert_eq!(sl.count(&42.into()).unwrap(), 2);
    assert_eq!(sl.count(&b"HoWdY"[..].into()).unwrap(), 1);
    assert_eq!(sl.count(&b"adios"[..].into()).unwrap(), 0);

    // A duplicate in a named segment.
    let dup_name = unique("dup");
    let copy = ShareableList::with_name(&dup_name, sl.to_vec().unwrap()).unwrap();
    assert_eq!(copy.shm().name(), dup_name);
    assert_eq!(copy.to_vec().unwrap(), sl.to_vec().unwrap());
    assert_eq!(copy.format().unwrap(), sl.format().unwrap());
    copy.set(-1, 77).unwrap();
    assert_eq!(copy.get(-1).unwrap(), 77.into());
    assert_ne!(sl.get(-1).unwrap(), 77.into());
    copy.shm().unlink().unwrap();

    // A second handle on the same list.
    let tethered = ShareableList::attach(sl.shm().name()).unwrap();
    tethered.set(-1, 880).unwrap();
    assert_eq!(sl.get(-1).unwrap(), 880.into());
    sl.shm().unlink().unwrap();

    let empty = ShareableList::new(Vec::<Item>::new()).unwrap();
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.format().unwrap(), "");
    assert_eq!(empty.count(&"any".into()).unwrap(), 0);
    assert_eq!(
        empty.index(&Item::None).unwrap_err().kind(),
        ErrorKind::Value
    );
    empty.shm().unlink().unwrap();
}

#[test]
fn slot_sizes_follow_cpython() {
    // str slots: 8 * (len // 8 + 1) bytes, len in characters.
    let sl = ShareableList::new(["", "1234567", "12345678", "é"]).unwrap();
    assert_eq!(sl.format().unwrap(), "8s8s16s8s");
    // UTF-8 longer than the slot CPython's layout gives: an error, not a silent truncation.
    assert_eq!(
        ShareableList::new(["😀😀😀"]).unwrap_err().kind(),
        ErrorKind::Value
    );
    sl.shm().unlink().unwrap();
}

#[mp::test]
fn pickles_by_name() {
    let sl = ShareableList::new([1, 2, 3]).unwrap();
    let (a, b) = mp::Pipe(true).unwrap();
    a.send(&sl).unwrap();
    let got: ShareableList = b.recv().unwrap();
    got.set(0, 9).unwrap();
    assert_eq!(sl.get(0).unwrap(), 9.into());
    a.send(&sl).unwrap();
    sl.shm().unlink().unwrap();
    assert!(
        b.recv::<ShareableList>().is_err(),
        "attaching an unlinked list"
    );
}

#[mp::test]
fn a_child_updates_the_list() {
    for m in methods() {
        let sl = ShareableList::new([1i64, 2, 41]).unwrap();
        let handle = ShareableList::attach(sl.shm().name()).unwrap();
        let p = Process::builder(bump_last, (handle,))
            .start_method(m)
            .build();
        start(&p);
        join_ok(&p);
        assert_eq!(sl.get(2).unwrap(), 42.into(), "{m}");
        sl.shm().unlink().unwrap();
    }
}

#[mp::test]
fn cpython_reads_our_list_and_we_read_its() {
    let sl = ShareableList::new(sample()).unwrap();
    let code = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         sl = shared_memory.ShareableList(name={:?})\n\
         resource_tracker.unregister(sl.shm._name, 'shared_memory')\n\
         print(sl.format)\n\
         print(list(sl))\n\
         sl[2] = 'py'\n\
         sl.shm.close()\n",
        sl.shm().name()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&code)
        .output()
        .expect("python3 (CPython) is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("8s8sdqxxxxxx?xxxxxxxx?q"));
    assert_eq!(
        lines.next(),
        Some("['howdy', b'HoWdY', -273.154, 100, None, True, 42]")
    );
    assert_eq!(sl.get(2).unwrap(), "py".into());
    sl.shm().unlink().unwrap();

    let name = unique("py_list");
    let code = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         sl = shared_memory.ShareableList([1, 2.5, 'three', b'four', None, False], name={name:?})\n\
         resource_tracker.unregister(sl.shm._name, 'shared_memory')\n\
         sl.shm.close()\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&code)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = ShareableList::attach(&name).unwrap();
    assert_eq!(
        theirs.to_vec().unwrap(),
        vec![
            Item::Int(1),
            Item::Float(2.5),
            "three".into(),
            b"four"[..].into(),
            Item::None,
            Item::Bool(false)
        ]
    );
    assert_eq!(theirs.format().unwrap(), "qd8s8sxxxxxx?xxxxxxxx?");
    theirs.shm().unlink().unwrap();
}
